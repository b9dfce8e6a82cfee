import {
  constants,
  createHash,
  randomBytes,
  randomUUID,
  timingSafeEqual,
  verify,
  X509Certificate,
} from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import {
  ApiDirectory,
  apiTokenClaims,
  mintApiToken,
  signApiToken,
  SigningKeySet,
  type ApiPrincipal,
  type ClientAuthentication,
  type MintApiTokenOptions,
  type PublishedSigningKey,
  type SimulatedApi,
} from "./apiTokens.js";
import { readBody, sendJson } from "./server.js";
import type { SimulatedUser, TokenRegistry } from "./tokenRegistry.js";
import type { SimulatorRoute } from "./types.js";

export type { ApiPrincipal, MintApiTokenOptions, SimulatedApi } from "./apiTokens.js";

/** An app registration known to the simulated Entra ID. */
export interface SimulatedApp {
  readonly clientId: string;
  /** Accept this client secret. */
  readonly clientSecret?: string;
  /** Accept client assertions signed with this certificate's key (PEM). */
  readonly certificatePem?: string;
  /** Accept any well-formed, unexpired JWT assertion (stands in for a managed identity federated credential). */
  readonly acceptAnyAssertion?: boolean;
  /** "Allow public client flows": device code, and codes or refresh tokens redeemed without credentials. */
  readonly allowPublicClientFlows?: boolean;
}

export type DeviceCodeApproval = "after-first-poll" | "manual";

export interface EntraSimulatorOptions {
  readonly registry: TokenRegistry;
  readonly tenantId: string;
  readonly apps: readonly SimulatedApp[];
  /** Who "signs in" when the authorize page or a device code is approved. */
  readonly user: SimulatedUser;
  /** Default `after-first-poll`: the first poll answers authorization_pending, the next gets tokens. */
  readonly deviceCodeApproval?: DeviceCodeApproval;
  /** Poll interval announced for device codes. Default 1 s. */
  readonly deviceCodeIntervalSeconds?: number;
  /** APIs of the tenant: their access tokens are signed JWTs that verify against the tenant's key set. */
  readonly apis?: readonly SimulatedApi[];
}

export interface AuthorizeRecord {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly scope: string;
  readonly state?: string;
  readonly codeChallenge?: string;
  readonly codeChallengeMethod?: string;
  /** Echoed in the ID token of the code's redemption, as Entra does. */
  readonly nonce?: string;
}

interface AuthorizationCode extends AuthorizeRecord {
  readonly expiresAt: number;
  used: boolean;
}

interface DeviceCode {
  readonly clientId: string;
  readonly scopes: readonly string[];
  readonly userCode: string;
  readonly expiresAt: number;
  state: "pending" | "approved" | "declined" | "redeemed";
  polls: number;
}

export interface EntraCounters {
  tokenRequests: number;
  deviceCodePolls: number;
  authorizeRequests: number;
  discoveryRequests: number;
  jwksRequests: number;
}

const OIDC_SCOPES = new Set(["openid", "profile", "offline_access", "email"]);
const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

/**
 * A small Entra ID (v2.0 endpoints) good enough for MSAL and `@azure/identity` against loopback:
 * discovery, authorize (auto-approved for the configured user, PKCE recorded), device code, and the
 * token endpoint's authorization_code, device_code, refresh_token and client_credentials grants. Errors
 * use Entra's body shape and AADSTS codes. Tokens for the tenant's own APIs (`api://<client id>`) are
 * RS256 JWTs with app roles, verifiable against the key set at `jwks_uri`.
 */
export class EntraSimulator {
  readonly route: SimulatorRoute;
  readonly counters: EntraCounters = {
    tokenRequests: 0,
    deviceCodePolls: 0,
    authorizeRequests: 0,
    discoveryRequests: 0,
    jwksRequests: 0,
  };
  readonly authorizeRequests: AuthorizeRecord[] = [];
  deviceCodeApproval: DeviceCodeApproval;
  deviceCodeIntervalSeconds: number;
  /** Answer the authorize page with approval (default) or the user declining. */
  authorizeOutcome: "approve" | "deny" = "approve";
  /** When true, refresh_token grants answer interaction_required (AADSTS50079, MFA enrolment). */
  requireMfaOnRefresh = false;
  /**
   * Origin of this Entra ID (`https://127.0.0.1:PORT`) for tokens minted outside a request; set by
   * whoever starts the server, else taken from the first request.
   */
  origin: string | undefined;

  private readonly apps = new Map<string, SimulatedApp>();
  private readonly codes = new Map<string, AuthorizationCode>();
  private readonly deviceCodes = new Map<string, DeviceCode>();
  private tokenFaults: { remaining: number; status: number | "drop" } = { remaining: 0, status: 503 };
  private readonly signingKeys = new SigningKeySet();
  private readonly directory = new ApiDirectory();

  constructor(private readonly options: EntraSimulatorOptions) {
    for (const app of options.apps) this.apps.set(app.clientId, app);
    for (const api of options.apis ?? []) this.directory.add(api);
    this.deviceCodeApproval = options.deviceCodeApproval ?? "after-first-poll";
    this.deviceCodeIntervalSeconds = options.deviceCodeIntervalSeconds ?? 1;
    this.route = (req, res, url) => this.handle(req, res, url);
  }

  addApp(app: SimulatedApp): void {
    this.apps.set(app.clientId, app);
  }

  /** Registers an API: scopes naming it get signed access tokens. */
  addApi(api: SimulatedApi): void {
    this.directory.add(api);
  }

  /**
   * Assigns app roles of a registered API to a user or a client application, replacing what that
   * principal held for the API before. A role the API does not define is refused.
   */
  assignApiRoles(principal: ApiPrincipal, apiClientId: string, roles: readonly string[]): void {
    this.directory.assign(principal, apiClientId, roles);
  }

  /**
   * Makes a new current signing key (new kid). With `keepPrevious` the earlier keys stay published,
   * as Entra keeps several; otherwise they are withdrawn and tokens they signed stop verifying.
   */
  rotateSigningKey(options: { readonly keepPrevious: boolean }): Promise<string> {
    return this.signingKeys.rotate(options.keepPrevious);
  }

  /** The key set served at `jwks_uri`. */
  publishedSigningKeys(): Promise<{ keys: PublishedSigningKey[] }> {
    return this.signingKeys.published();
  }

  /** Signs an API access token with deliberately chosen flaws (see MintApiTokenOptions). */
  async mintApiToken(options: MintApiTokenOptions): Promise<string> {
    const origin = this.origin;
    if (origin === undefined && options.issuer === undefined) {
      throw new Error("The simulator's origin is not known yet: set `origin` or pass `issuer`");
    }
    const token = await mintApiToken(
      {
        keys: this.signingKeys,
        directory: this.directory,
        tenantId: this.options.tenantId,
        origin: origin ?? "",
        user: this.options.user,
        defaultLifetimeSeconds: this.options.registry.accessTokenLifetimeSeconds,
      },
      options,
    );
    this.options.registry.recordSignedAccessToken(token);
    return token;
  }

  /** Approves a pending device code (the newest, or the one with this user code). */
  approveDeviceCode(userCode?: string): boolean {
    const pending = [...this.deviceCodes.values()].filter(
      (d) => d.state === "pending" && (userCode === undefined || d.userCode === userCode),
    );
    const target = pending.at(-1);
    if (!target) return false;
    target.state = "approved";
    return true;
  }

  declineDeviceCode(userCode?: string): boolean {
    const target = [...this.deviceCodes.values()]
      .filter((d) => d.state === "pending" && (userCode === undefined || d.userCode === userCode))
      .at(-1);
    if (!target) return false;
    target.state = "declined";
    return true;
  }

  /** The next `count` token-endpoint requests fail with this status (or a dropped connection). */
  failNextTokenRequests(count: number, status: number | "drop" = 503): void {
    this.tokenFaults = { remaining: count, status };
  }

  private async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const method = req.method ?? "GET";
    if (url.pathname === "/devicelogin" && method === "GET") {
      const code = url.searchParams.get("user_code") ?? url.searchParams.get("code") ?? undefined;
      const approved = this.approveDeviceCode(code ?? undefined);
      sendHtml(
        res,
        approved ? 200 : 404,
        approved ? "Device sign-in approved (simulator)." : "No pending device code.",
      );
      return true;
    }
    const match =
      /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|discovery\/v2\.0\/keys|oauth2\/v2\.0\/(authorize|token|devicecode))$/.exec(
        url.pathname,
      );
    if (!match?.[1] || !match[2]) return false;
    const tenant = decodeURIComponent(match[1]);
    if (tenant !== this.options.tenantId) {
      await drain(req);
      sendEntraError(
        res,
        400,
        "invalid_request",
        90002,
        `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID.`,
      );
      return true;
    }
    const origin = originOf(req);
    this.origin ??= origin;
    const endpoint = match[3];
    if (match[2] === "discovery/v2.0/keys") {
      if (method !== "GET") return false;
      this.counters.jwksRequests++;
      sendJson(res, 200, await this.signingKeys.published());
      return true;
    }
    if (endpoint === undefined) {
      if (method !== "GET") return false;
      this.counters.discoveryRequests++;
      sendJson(res, 200, this.openIdConfiguration(origin));
      return true;
    }
    if (endpoint === "authorize" && method === "GET") {
      this.authorize(res, url);
      return true;
    }
    if (endpoint === "devicecode" && method === "POST") {
      this.deviceCode(res, origin, new URLSearchParams(await readBody(req)));
      return true;
    }
    if (endpoint === "token" && method === "POST") {
      const body = new URLSearchParams(await readBody(req));
      this.counters.tokenRequests++;
      if (this.tokenFaults.remaining > 0) {
        this.tokenFaults.remaining--;
        if (this.tokenFaults.status === "drop") {
          req.socket.destroy();
          return true;
        }
        sendJson(res, this.tokenFaults.status, {
          error: "temporarily_unavailable",
          error_description: "The token service is temporarily unavailable (simulated fault).",
        });
        return true;
      }
      await this.token(res, origin, body);
      return true;
    }
    return false;
  }

  private openIdConfiguration(origin: string): Record<string, unknown> {
    const base = `${origin}/${this.options.tenantId}`;
    return {
      issuer: `${base}/v2.0`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      token_endpoint: `${base}/oauth2/v2.0/token`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      jwks_uri: `${base}/discovery/v2.0/keys`,
      userinfo_endpoint: `${origin}/oidc/userinfo`,
      response_modes_supported: ["query", "fragment", "form_post"],
      response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
      subject_types_supported: ["pairwise"],
      id_token_signing_alg_values_supported: ["RS256"],
      token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
      scopes_supported: ["openid", "profile", "email", "offline_access"],
      claims_supported: [
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "name",
        "tid",
        "ver",
        "oid",
        "preferred_username",
      ],
      request_uri_parameter_supported: false,
      tenant_region_scope: "WW",
      cloud_instance_name: "microsoftonline.com",
      cloud_graph_host_name: "graph.windows.net",
      msgraph_host: "graph.microsoft.com",
    };
  }

  private authorize(res: ServerResponse, url: URL): void {
    this.counters.authorizeRequests++;
    const q = url.searchParams;
    const clientId = q.get("client_id") ?? "";
    const redirectUri = q.get("redirect_uri") ?? "";
    if (!this.apps.has(clientId)) {
      sendHtml(
        res,
        400,
        `AADSTS700016: Application with identifier '${clientId}' was not found in the directory.`,
      );
      return;
    }
    if (!isLoopbackRedirect(redirectUri)) {
      sendHtml(
        res,
        400,
        "AADSTS50011: The redirect URI specified in the request does not match the redirect URIs configured for the application.",
      );
      return;
    }
    const record: AuthorizeRecord = {
      clientId,
      redirectUri,
      scope: q.get("scope") ?? "",
      ...optional("state", q.get("state")),
      ...optional("codeChallenge", q.get("code_challenge")),
      ...optional("codeChallengeMethod", q.get("code_challenge_method")),
      ...optional("nonce", q.get("nonce")),
    };
    this.authorizeRequests.push(record);
    const target = new URL(redirectUri);
    const unknownApi = this.unknownApiResource(record.scope);
    if (unknownApi !== undefined) {
      target.searchParams.set("error", "invalid_resource");
      target.searchParams.set(
        "error_description",
        `AADSTS500011: The resource principal named ${unknownApi} was not found in the tenant named ${this.options.tenantId}.`,
      );
    } else if (this.authorizeOutcome === "deny") {
      target.searchParams.set("error", "access_denied");
      target.searchParams.set(
        "error_description",
        "AADSTS65004: User declined to consent to access the app.",
      );
    } else {
      const code = `sim-code.${randomBytes(24).toString("base64url")}`;
      this.codes.set(code, { ...record, expiresAt: Date.now() + 10 * 60_000, used: false });
      target.searchParams.set("code", code);
      target.searchParams.set("session_state", randomUUID());
    }
    if (record.state !== undefined) target.searchParams.set("state", record.state);
    res.writeHead(302, { location: target.toString(), "content-length": 0 });
    res.end();
  }

  private deviceCode(res: ServerResponse, origin: string, body: URLSearchParams): void {
    const clientId = body.get("client_id") ?? "";
    if (!this.apps.has(clientId)) {
      sendEntraError(
        res,
        400,
        "unauthorized_client",
        700016,
        `Application with identifier '${clientId}' was not found in the directory.`,
      );
      return;
    }
    const deviceCode = `sim-dc.${randomBytes(24).toString("base64url")}`;
    const userCode = randomBytes(6).toString("hex").slice(0, 9).toUpperCase();
    const lifetime = 900;
    this.deviceCodes.set(deviceCode, {
      clientId,
      scopes: splitScopes(body.get("scope")),
      userCode,
      expiresAt: Date.now() + lifetime * 1000,
      state: "pending",
      polls: 0,
    });
    const verificationUri = `${origin}/devicelogin`;
    sendJson(res, 200, {
      user_code: userCode,
      device_code: deviceCode,
      verification_uri: verificationUri,
      expires_in: lifetime,
      interval: this.deviceCodeIntervalSeconds,
      message: `To sign in, use a web browser to open the page ${verificationUri} and enter the code ${userCode} to authenticate.`,
    });
  }

  private async token(res: ServerResponse, origin: string, body: URLSearchParams): Promise<void> {
    const grantType = body.get("grant_type") ?? "";
    const clientId = body.get("client_id") ?? "";
    const app = this.apps.get(clientId);
    if (!app) {
      sendEntraError(
        res,
        400,
        "unauthorized_client",
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${this.options.tenantId}'.`,
      );
      return;
    }
    const auth = this.authenticateClient(app, body, `${origin}/${this.options.tenantId}/oauth2/v2.0/token`);
    if (auth === "failed-secret") {
      sendEntraError(
        res,
        401,
        "invalid_client",
        7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
      );
      return;
    }
    if (auth === "failed-assertion") {
      sendEntraError(res, 401, "invalid_client", 700027, "Client assertion failed signature validation.");
      return;
    }
    const client: ClientAuthentication = auth === "secret" ? "1" : auth === "assertion" ? "2" : "0";
    const authenticated = client !== "0";
    switch (grantType) {
      case "client_credentials":
        await this.clientCredentials(res, origin, app, client, body);
        return;
      case "authorization_code":
        await this.authorizationCode(res, origin, app, client, body);
        return;
      case DEVICE_CODE_GRANT:
      case "device_code":
        await this.deviceCodeGrant(res, origin, app, authenticated, body);
        return;
      case "refresh_token":
        await this.refreshGrant(res, origin, app, client, body);
        return;
      default:
        sendEntraError(
          res,
          400,
          "unsupported_grant_type",
          70003,
          `The app requested an unsupported grant type '${grantType}'.`,
        );
    }
  }

  private authenticateClient(
    app: SimulatedApp,
    body: URLSearchParams,
    tokenEndpoint: string,
  ): "none" | "secret" | "assertion" | "failed-secret" | "failed-assertion" {
    const secret = body.get("client_secret");
    if (secret !== null) {
      return app.clientSecret !== undefined && safeEqual(secret, app.clientSecret)
        ? "secret"
        : "failed-secret";
    }
    const assertion = body.get("client_assertion");
    if (assertion === null) return "none";
    if (body.get("client_assertion_type") !== ASSERTION_TYPE) return "failed-assertion";
    return verifyAssertion(app, assertion, tokenEndpoint) ? "assertion" : "failed-assertion";
  }

  private async clientCredentials(
    res: ServerResponse,
    origin: string,
    app: SimulatedApp,
    client: ClientAuthentication,
    body: URLSearchParams,
  ): Promise<void> {
    if (client === "0") {
      sendEntraError(
        res,
        401,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      );
      return;
    }
    const scopes = splitScopes(body.get("scope"));
    const resource = resourceOf(scopes);
    if (!resource || scopes.length !== 1 || !scopes[0]?.endsWith("/.default")) {
      sendEntraError(
        res,
        400,
        "invalid_scope",
        1002012,
        "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.",
      );
      return;
    }
    const issued = await this.issueAccessToken(res, origin, app, client, resource);
    if (!issued) return;
    const { token, expiresInSeconds } = issued;
    sendJson(res, 200, {
      token_type: "Bearer",
      expires_in: expiresInSeconds,
      ext_expires_in: expiresInSeconds,
      access_token: token,
    });
  }

  private async authorizationCode(
    res: ServerResponse,
    origin: string,
    app: SimulatedApp,
    client: ClientAuthentication,
    body: URLSearchParams,
  ): Promise<void> {
    const authenticated = client !== "0";
    const codeValue = body.get("code") ?? "";
    const code = this.codes.get(codeValue);
    if (!code || code.clientId !== app.clientId) {
      sendEntraError(res, 400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.");
      return;
    }
    if (code.used) {
      sendEntraError(
        res,
        400,
        "invalid_grant",
        54005,
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
      );
      return;
    }
    if (code.expiresAt <= Date.now()) {
      sendEntraError(
        res,
        400,
        "invalid_grant",
        70008,
        "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
      );
      return;
    }
    if ((body.get("redirect_uri") ?? "") !== code.redirectUri) {
      sendEntraError(
        res,
        400,
        "invalid_grant",
        50011,
        "The redirect URI specified in the request does not match the redirect URI used in the authorization request.",
      );
      return;
    }
    if (code.codeChallenge !== undefined) {
      const verifier = body.get("code_verifier") ?? "";
      const expected =
        (code.codeChallengeMethod ?? "plain").toUpperCase() === "S256"
          ? createHash("sha256").update(verifier).digest("base64url")
          : verifier;
      if (!safeEqual(expected, code.codeChallenge)) {
        sendEntraError(
          res,
          400,
          "invalid_grant",
          501481,
          "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        );
        return;
      }
    }
    if (!authenticated && !app.allowPublicClientFlows) {
      sendEntraError(
        res,
        401,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      );
      return;
    }
    code.used = true;
    await this.issueUserTokens(res, origin, app, splitScopes(code.scope), client, undefined, code.nonce);
  }

  private async deviceCodeGrant(
    res: ServerResponse,
    origin: string,
    app: SimulatedApp,
    authenticated: boolean,
    body: URLSearchParams,
  ): Promise<void> {
    if (authenticated) {
      sendEntraError(
        res,
        401,
        "invalid_client",
        700025,
        "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
      );
      return;
    }
    if (!app.allowPublicClientFlows) {
      sendEntraError(
        res,
        401,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      );
      return;
    }
    const deviceCode = this.deviceCodes.get(body.get("device_code") ?? "");
    if (!deviceCode || deviceCode.clientId !== app.clientId) {
      sendEntraError(res, 400, "invalid_grant", 70019, "Verification code expired.");
      return;
    }
    this.counters.deviceCodePolls++;
    deviceCode.polls++;
    if (deviceCode.expiresAt <= Date.now() && deviceCode.state !== "redeemed") {
      sendEntraError(
        res,
        400,
        "expired_token",
        70020,
        "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
      );
      return;
    }
    switch (deviceCode.state) {
      case "declined":
        sendEntraError(res, 400, "authorization_declined", 70000, "The user declined the sign-in request.");
        return;
      case "redeemed":
        sendEntraError(res, 400, "invalid_grant", 54005, "The device code was already redeemed.");
        return;
      case "pending":
        if (this.deviceCodeApproval === "after-first-poll") deviceCode.state = "approved";
        sendEntraError(
          res,
          400,
          "authorization_pending",
          70016,
          "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        );
        return;
      case "approved":
        deviceCode.state = "redeemed";
        await this.issueUserTokens(res, origin, app, deviceCode.scopes, "0");
        return;
    }
  }

  private async refreshGrant(
    res: ServerResponse,
    origin: string,
    app: SimulatedApp,
    client: ClientAuthentication,
    body: URLSearchParams,
  ): Promise<void> {
    const authenticated = client !== "0";
    const presented = body.get("refresh_token") ?? "";
    const registry = this.options.registry;
    // Inspect first: a request refused for client-authentication reasons must not use the token up.
    const outcome = registry.inspectRefreshToken(presented);
    if (!outcome.ok) {
      registry.redeemRefreshToken(presented);
      if (outcome.reason === "expired") {
        const issued = new Date(outcome.record?.issuedAt ?? Date.now()).toISOString();
        sendEntraError(
          res,
          400,
          "invalid_grant",
          700082,
          `The refresh token has expired due to inactivity. The token was issued on ${issued} and was inactive for 90.00:00:00.`,
        );
      } else if (outcome.reason === "revoked") {
        const issued = new Date(outcome.record?.issuedAt ?? Date.now()).toISOString();
        sendEntraError(
          res,
          400,
          "invalid_grant",
          50173,
          `The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '${issued}' and the TokensValidFrom date (before which tokens are not valid) for this user is '${new Date().toISOString()}'.`,
        );
      } else {
        sendEntraError(
          res,
          400,
          "invalid_grant",
          9002313,
          "Invalid request. Request is malformed or invalid.",
        );
      }
      return;
    }
    const record = outcome.record;
    if (record.clientId !== app.clientId) {
      sendEntraError(res, 400, "invalid_grant", 70000, "Provided grant is invalid or malformed.");
      return;
    }
    if (record.publicClient && authenticated) {
      sendEntraError(
        res,
        401,
        "invalid_client",
        700025,
        "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
      );
      return;
    }
    if (!record.publicClient && !authenticated) {
      sendEntraError(
        res,
        401,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      );
      return;
    }
    if (this.requireMfaOnRefresh) {
      sendEntraError(
        res,
        400,
        "interaction_required",
        50079,
        "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access 'Microsoft Partner Center'.",
        { suberror: "basic_action" },
      );
      return;
    }
    registry.redeemRefreshToken(presented);
    const requested = splitScopes(body.get("scope"));
    await this.issueUserTokens(
      res,
      origin,
      app,
      requested.length > 0 ? requested : record.scopes,
      client,
      record.user,
    );
  }

  private async issueUserTokens(
    res: ServerResponse,
    origin: string,
    app: SimulatedApp,
    scopes: readonly string[],
    client: ClientAuthentication,
    user: SimulatedUser = this.options.user,
    nonce?: string,
  ): Promise<void> {
    const publicClient = client === "0";
    const resource = resourceOf(scopes);
    if (!resource) {
      sendEntraError(
        res,
        400,
        "invalid_scope",
        70011,
        "The provided request must include a resource scope such as https://api.partnercenter.microsoft.com/user_impersonation.",
      );
      return;
    }
    const tenantId = this.options.tenantId;
    const issued = await this.issueAccessToken(res, origin, app, client, resource, user);
    if (!issued) return;
    const { token, expiresInSeconds } = issued;
    const refreshToken = this.options.registry.issueRefreshToken({
      clientId: app.clientId,
      tenantId,
      user,
      scopes: scopes.filter((s) => !OIDC_SCOPES.has(s)),
      publicClient,
    });
    const now = Math.floor(Date.now() / 1000);
    const idToken = [
      b64json({ typ: "JWT", alg: "none" }),
      b64json({
        aud: app.clientId,
        iss: `${origin}/${tenantId}/v2.0`,
        iat: now,
        nbf: now,
        exp: now + 3600,
        name: user.name,
        oid: user.oid,
        preferred_username: user.username,
        ...(nonce !== undefined ? { nonce } : {}),
        sub: createHash("sha256").update(`${user.oid}:${app.clientId}`).digest("base64url"),
        tid: tenantId,
        ver: "2.0",
      }),
      "",
    ].join(".");
    sendJson(
      res,
      200,
      {
        token_type: "Bearer",
        scope: resource.full.join(" "),
        expires_in: expiresInSeconds,
        ext_expires_in: expiresInSeconds,
        access_token: token,
        refresh_token: refreshToken,
        id_token: idToken,
        client_info: b64json({ uid: user.oid, utid: tenantId }),
      },
      { "cache-control": "no-store", pragma: "no-cache" },
    );
  }

  /**
   * The access token for a resource: for one of the tenant's APIs a signed v2.0 JWT carrying the
   * principal's app roles, for any other resource the registry's opaque token. Answers the error and
   * returns undefined when the resource names an API the tenant does not have.
   */
  private async issueAccessToken(
    res: ServerResponse,
    origin: string,
    app: SimulatedApp,
    client: ClientAuthentication,
    resource: Resource,
    user?: SimulatedUser,
  ): Promise<{ token: string; expiresInSeconds: number } | undefined> {
    const tenantId = this.options.tenantId;
    const registry = this.options.registry;
    const api = this.directory.find(resource.audience);
    if (!api) {
      if (isApiResource(resource.audience)) {
        sendEntraError(
          res,
          400,
          "invalid_resource",
          500011,
          `The resource principal named ${resource.audience} was not found in the tenant named ${tenantId}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
        );
        return undefined;
      }
      return registry.issueAccessToken({
        audience: resource.audience,
        scopes: resource.names,
        delegated: user !== undefined,
        clientId: app.clientId,
        tenantId,
        ...(user ? { userOid: user.oid } : {}),
      });
    }
    const expiresInSeconds = registry.accessTokenLifetimeSeconds;
    const now = Math.floor(Date.now() / 1000);
    const principal: ApiPrincipal = user ? { userOid: user.oid } : { clientId: app.clientId };
    const token = await signApiToken(
      this.signingKeys,
      apiTokenClaims({
        apiClientId: api.clientId,
        tenantId,
        issuer: `${origin}/${tenantId}/v2.0`,
        clientId: app.clientId,
        clientAuthentication: client,
        ...(user ? { user, scopes: resource.names.filter((name) => name !== ".default") } : {}),
        roles: this.directory.rolesOf(principal, api.clientId),
        issuedAt: now,
        notBefore: now,
        expiresAt: now + expiresInSeconds,
      }),
    );
    registry.recordSignedAccessToken(token);
    return { token, expiresInSeconds };
  }

  /** The scopes' resource when it is an API the tenant does not have (the authorize page refuses it). */
  private unknownApiResource(scope: string): string | undefined {
    const resource = resourceOf(splitScopes(scope));
    if (!resource || !isApiResource(resource.audience)) return undefined;
    return this.directory.find(resource.audience) ? undefined : resource.audience;
  }
}

export function createEntraSimulator(options: EntraSimulatorOptions): EntraSimulator {
  return new EntraSimulator(options);
}

function verifyAssertion(app: SimulatedApp, assertion: string, tokenEndpoint: string): boolean {
  const parts = assertion.split(".");
  if (parts.length !== 3 || !parts[0] || !parts[1]) return false;
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(parts[0], "base64url").toString("utf8")) as Record<string, unknown>;
    claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8")) as Record<string, unknown>;
  } catch {
    return false;
  }
  const now = Date.now() / 1000;
  if (typeof claims.exp !== "number" || claims.exp <= now) return false;
  const thumbprint = header["x5t#S256"];
  if (app.certificatePem !== undefined && typeof thumbprint === "string") {
    const certificate = new X509Certificate(app.certificatePem);
    const expected = Buffer.from(certificate.fingerprint256.replace(/:/g, ""), "hex").toString("base64url");
    if (thumbprint !== expected) return false;
    if (claims.iss !== app.clientId || claims.sub !== app.clientId || claims.aud !== tokenEndpoint)
      return false;
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
    const signature = Buffer.from(parts[2] ?? "", "base64url");
    const alg = header.alg;
    if (alg === "PS256") {
      return verify(
        "sha256",
        signed,
        { key: certificate.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
        signature,
      );
    }
    if (alg === "RS256") return verify("sha256", signed, certificate.publicKey, signature);
    return false;
  }
  return app.acceptAnyAssertion === true;
}

function sendEntraError(
  res: ServerResponse,
  status: number,
  error: string,
  code: number,
  description: string,
  extra: Record<string, unknown> = {},
): void {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date()
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");
  sendJson(res, status, {
    error,
    error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
    error_codes: [code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    ...extra,
  });
}

function sendHtml(res: ServerResponse, status: number, text: string): void {
  const html = `<!doctype html><meta charset="utf-8"><title>Simulator</title><p>${escapeHtml(text)}</p>`;
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "content-length": Buffer.byteLength(html),
  });
  res.end(html);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function originOf(req: IncomingMessage): string {
  const scheme = (req.socket as Partial<TLSSocket>).encrypted ? "https" : "http";
  return `${scheme}://${req.headers.host ?? "127.0.0.1"}`;
}

function isLoopbackRedirect(uri: string): boolean {
  try {
    const url = new URL(uri);
    return url.protocol === "http:" && ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
  } catch {
    return false;
  }
}

function splitScopes(scope: string | null): string[] {
  return (scope ?? "").split(/\s+/).filter((s) => s !== "");
}

interface Resource {
  /** The resource as the scopes name it: `https://host`, `api://<client id>` or a bare client id. */
  readonly audience: string;
  /** Scope names without the resource, e.g. `user_impersonation` or `.default`. */
  readonly names: string[];
  readonly full: string[];
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A resource named by application id URI (`api://...`) or client id: one of the tenant's own APIs. */
function isApiResource(resource: string): boolean {
  return /^api:\/\/[^/]/i.test(resource) || GUID.test(resource);
}

/**
 * The single resource a token is for, from scopes like `https://host/user_impersonation`,
 * `api://<client id>/.default` or `<client id>/.default`.
 */
function resourceOf(scopes: readonly string[]): Resource | undefined {
  const resourceScopes = scopes.filter((s) => !OIDC_SCOPES.has(s));
  let audience: string | undefined;
  const names: string[] = [];
  for (const scope of resourceScopes) {
    const slash = scope.lastIndexOf("/");
    const resource = slash > 0 ? scope.slice(0, slash) : "";
    if (!/^https?:\/\/[^/]/.test(resource) && !isApiResource(resource)) return undefined;
    if (audience !== undefined && audience !== resource) return undefined;
    audience = resource;
    names.push(scope.slice(slash + 1));
  }
  return audience === undefined ? undefined : { audience, names, full: resourceScopes };
}

function b64json(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

function optional<K extends string>(key: K, value: string | null): Partial<Record<K, string>> {
  return value === null ? {} : ({ [key]: value } as Partial<Record<K, string>>);
}

async function drain(req: IncomingMessage): Promise<void> {
  await readBody(req).catch(() => "");
}
