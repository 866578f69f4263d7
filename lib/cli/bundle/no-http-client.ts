/**
 * Stands in for @actions/http-client in the CI bundle (lib/cli/build.ts). @actions/core needs it
 * only for getIDToken, which the CLI never calls (configure-aws-credentials fetches the OIDC
 * token); the real client brings undici, about 400 kB of the bundle.
 */
export class HttpClient {
  constructor() {
    throw new Error('@actions/http-client is not part of the deploy-runner CI bundle');
  }
}

/** Imported by @actions/core's oidc-utils next to HttpClient; never constructed either. */
export class BearerCredentialHandler extends HttpClient {}
