import '../lib/local/polyfills';

// Handler logs are JSON lines for CloudWatch; in tests they are noise unless asked for.
process.env.POWERTOOLS_LOG_LEVEL ??= process.env.E2E_DEBUG ? 'DEBUG' : 'ERROR';
