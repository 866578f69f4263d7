import '../lib/local/polyfills';

// Handler logs are JSON lines for CloudWatch; in tests they are noise unless asked for.
process.env.POWERTOOLS_LOG_LEVEL ??= process.env.E2E_DEBUG ? 'DEBUG' : 'ERROR';

// The SDK warns once per process, on Node 20, when a client is first built; with clients built
// lazily that can land inside a test that captures output. The CLI still shows it to users.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
