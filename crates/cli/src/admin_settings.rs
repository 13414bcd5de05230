//! The flags of `tollgate admin client create` and `client update` that
//! set a client's settings (`ClientSettings`), their value types, and the
//! registration they make: one flag per setting, what is not given stays
//! as it is.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use tollgate_proto::admin::ClientRegistration;
use tollgate_proto::client::{AuthMethod, ClientSettings, TokenFormat};
use tollgate_proto::jose::SigningAlg;
use tollgate_proto::GrantType;

/// Grant names as RFC 6749 spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
enum GrantArg {
    ClientCredentials,
    Password,
    RefreshToken,
    /// Browser sign-in (with --redirect-uri).
    AuthorizationCode,
    /// Sign-in on another screen for devices and CLIs (RFC 8628).
    DeviceCode,
}

impl From<GrantArg> for GrantType {
    fn from(g: GrantArg) -> Self {
        match g {
            GrantArg::ClientCredentials => GrantType::ClientCredentials,
            GrantArg::Password => GrantType::Password,
            GrantArg::RefreshToken => GrantType::RefreshToken,
            GrantArg::AuthorizationCode => GrantType::AuthorizationCode,
            GrantArg::DeviceCode => GrantType::DeviceCode,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AuthMethodArg {
    /// Either of the two below (the default).
    Any,
    /// HTTP Basic only (client_secret_basic).
    Basic,
    /// Id and secret in the form body only (client_secret_post).
    Post,
}

impl From<AuthMethodArg> for AuthMethod {
    fn from(a: AuthMethodArg) -> Self {
        match a {
            AuthMethodArg::Any => AuthMethod::Any,
            AuthMethodArg::Basic => AuthMethod::Basic,
            AuthMethodArg::Post => AuthMethod::Post,
        }
    }
}

/// The flags of `client create` and `client update` that set a client's
/// settings ([`ClientSettings`]); what is not given stays as it is.
#[derive(Debug, Args)]
pub struct SettingsFlags {
    /// Scopes the client may request, space-separated, e.g. "locations:read users:read".
    #[arg(long, value_name = "SCOPES")]
    scope: Option<String>,
    /// A grant the client may use; repeat for several. The password grant
    /// issues refresh tokens only to clients that also have refresh_token.
    #[arg(long = "grant", value_enum, value_name = "GRANT")]
    grants: Vec<GrantArg>,
    /// How the client authenticates at the token endpoint.
    #[arg(long, value_enum)]
    auth_method: Option<AuthMethodArg>,
    /// Access-token lifetime in seconds; 0 for the server's token_ttl [default: the server's].
    #[arg(long, value_name = "SECS")]
    token_ttl: Option<u64>,
    /// Requests per second allowed, 0 for unlimited [default: the server's quota.default_qps].
    #[arg(long, value_name = "N")]
    qps: Option<u64>,
    /// Requests per UTC day allowed, 0 for unlimited [default: the server's quota.default_per_day].
    #[arg(long, value_name = "N")]
    per_day: Option<u64>,
    /// Access-token format: opaque (stored), jwt (signed, RFC 9068), or
    /// server (the server's token_format) [default: server].
    #[arg(long, value_enum, value_name = "FORMAT")]
    token_format: Option<TokenFormatArg>,
    /// The `aud` of this client's JWT access tokens; "" for the issuer [default: the issuer].
    #[arg(long, value_name = "AUDIENCE")]
    audience: Option<String>,
    /// Where the authorization_code grant may send the browser back to;
    /// repeat for several (an update replaces the list). A loopback URI
    /// (http://127.0.0.1/…, http://[::1]/…, http://localhost/…) matches any
    /// port, for native apps (RFC 8252).
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// An origin (https://app.example) whose pages may call the token,
    /// revocation and userinfo endpoints (CORS); repeat for several (an
    /// update replaces the list; "" empties it) [default: the redirect
    /// URIs' origins].
    #[arg(long = "allowed-cors-origin", value_name = "ORIGIN")]
    allowed_cors_origins: Vec<String>,
    /// Where RP-initiated logout (/oauth2/logout) may send the browser
    /// after signing out; repeat for several (an update replaces the list;
    /// "" empties it).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    /// Where a signed logout token is POSTed when a person's session that
    /// signed in to the client ends (OpenID Connect Back-Channel Logout);
    /// "" for none [default: none].
    #[arg(long, value_name = "URI")]
    backchannel_logout_uri: Option<String>,
    /// Trusted: its users are not asked to consent.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    first_party: Option<bool>,
    /// OpenID Connect's default_max_age: a sign-in older than this many
    /// seconds is asked again when a request sends no max_age; "none" for
    /// any age [default: none].
    #[arg(long, value_name = "SECS|none", value_parser = max_age)]
    default_max_age: Option<MaxAge>,
    /// The algorithm of its ID tokens: ES256, EdDSA or RS256; "default"
    /// for RS256, the OpenID Connect default [default: default].
    #[arg(long, value_name = "ALG", value_parser = alg_choice)]
    id_token_signed_response_alg: Option<AlgChoice>,
    /// /userinfo answers it with a JWT signed with this algorithm (ES256,
    /// EdDSA or RS256); "default" for plain JSON [default: default].
    #[arg(long, value_name = "ALG", value_parser = alg_choice)]
    userinfo_signed_response_alg: Option<AlgChoice>,
    /// The person it belongs to (a username): it shows in their developer
    /// portal at /console.
    #[arg(long, value_name = "USERNAME")]
    owner: Option<String>,
    /// What it is for, as shown in the console.
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
}

/// A repeated flag's values without the empty one that empties the list.
fn non_empty(values: &[String]) -> Vec<String> {
    values.iter().filter(|v| !v.is_empty()).cloned().collect()
}

/// `--default-max-age`: seconds, or `none`.
#[derive(Debug, Clone, Copy)]
struct MaxAge(Option<u32>);

fn max_age(s: &str) -> Result<MaxAge, String> {
    match s {
        "none" => Ok(MaxAge(None)),
        n => n
            .parse()
            .map(|n| MaxAge(Some(n)))
            .map_err(|_| "a whole number of seconds, or none".to_owned()),
    }
}

/// A signing algorithm flag: a JOSE name, or `default` (`null`).
#[derive(Debug, Clone, Copy)]
struct AlgChoice(Option<SigningAlg>);

fn alg_choice(s: &str) -> Result<AlgChoice, String> {
    if s == "default" {
        return Ok(AlgChoice(None));
    }
    SigningAlg::ALL
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(s))
        .map(|a| AlgChoice(Some(a)))
        .ok_or_else(|| "ES256, EdDSA, RS256 or default".to_owned())
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TokenFormatArg {
    Opaque,
    Jwt,
    /// Whatever the server's token_format says.
    Server,
}

impl TokenFormatArg {
    fn format(self) -> Option<TokenFormat> {
        match self {
            Self::Opaque => Some(TokenFormat::Opaque),
            Self::Jwt => Some(TokenFormat::Jwt),
            Self::Server => None,
        }
    }
}

impl SettingsFlags {
    /// Sets what the flags give on a client's settings and owner.
    pub fn apply(&self, s: &mut ClientSettings, owner: &mut Option<String>) -> Result<()> {
        if let Some(scope) = &self.scope {
            s.scope = scope
                .parse()
                .with_context(|| format!("invalid --scope `{scope}`"))?;
        }
        if !self.grants.is_empty() {
            s.grant_types = self.grants.iter().map(|&g| g.into()).collect();
        }
        if let Some(a) = self.auth_method {
            s.auth_method = a.into();
        }
        if let Some(ttl) = self.token_ttl {
            s.token_ttl = (ttl > 0).then_some(ttl);
        }
        s.qps = self.qps.or(s.qps);
        s.per_day = self.per_day.or(s.per_day);
        if let Some(f) = self.token_format {
            s.token_format = f.format();
        }
        if let Some(a) = &self.audience {
            s.audience = (!a.is_empty()).then(|| a.clone());
        }
        if !self.redirect_uris.is_empty() {
            s.redirect_uris.clone_from(&self.redirect_uris);
        }
        if !self.allowed_cors_origins.is_empty() {
            s.allowed_cors_origins = non_empty(&self.allowed_cors_origins);
        }
        if !self.post_logout_redirect_uris.is_empty() {
            s.post_logout_redirect_uris = non_empty(&self.post_logout_redirect_uris);
        }
        if let Some(u) = &self.backchannel_logout_uri {
            s.backchannel_logout_uri = (!u.is_empty()).then(|| u.clone());
        }
        s.first_party = self.first_party.unwrap_or(s.first_party);
        if let Some(MaxAge(m)) = self.default_max_age {
            s.default_max_age = m;
        }
        if let Some(AlgChoice(a)) = self.id_token_signed_response_alg {
            s.id_token_signed_response_alg = a;
        }
        if let Some(AlgChoice(a)) = self.userinfo_signed_response_alg {
            s.userinfo_signed_response_alg = a;
        }
        if let Some(d) = &self.description {
            s.description.clone_from(d);
        }
        if let Some(o) = &self.owner {
            *owner = Some(o.clone());
        }
        Ok(())
    }
}

/// `client create`: the registration the flags ask for.
pub fn registration(
    name: String,
    flags: &SettingsFlags,
    public: bool,
) -> Result<ClientRegistration> {
    let mut reg = ClientRegistration::from(ClientSettings {
        client_name: name,
        public,
        ..ClientSettings::default()
    });
    flags.apply(&mut reg.settings, &mut reg.owner)?;
    Ok(reg)
}
