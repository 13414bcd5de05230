//! The HTML tollgate shows people: sign in, consent, and what went wrong.
//! Server-rendered (maud escapes every value), one style sheet served from
//! this origin so the Content-Security-Policy needs no `unsafe-inline`.
//! Every form carries the CSRF token. The one script is the form post
//! response's one line, allowed by its hash; without it a button does the
//! same.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

/// Where the style sheet is served.
pub const STYLE_PATH: &str = "/oauth2/static/tollgate.css";

const STYLE: &str = "\
body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1c1e21;margin:0}\
main{max-width:24rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;\
box-shadow:0 1px 4px rgba(0,0,0,.15)}\
h1{font-size:1.4rem;margin:0 0 1rem}\
label{display:block;margin:.8rem 0 .2rem;font-weight:600}\
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;\
border:1px solid #aab;border-radius:4px;font-size:1rem}\
button{margin-top:1.2rem;padding:.6rem 1.2rem;border:0;border-radius:4px;font-size:1rem;\
background:#0b5cad;color:#fff;cursor:pointer}\
button.secondary{background:#e4e6eb;color:#1c1e21;margin-left:.5rem}\
.error{background:#fdecea;color:#8a1c12;padding:.6rem;border-radius:4px}\
ul.scopes{padding-left:1.2rem}\
.muted{color:#606770;font-size:.9rem}\
strong.code{font-family:ui-monospace,monospace;letter-spacing:.1em}";

/// The style sheet, cacheable.
#[utoipa::path(get, path = "/oauth2/static/tollgate.css", tag = "sign-in", responses((status = 200, description = "the pages' style sheet", content_type = "text/css", body = String)))]
pub async fn style_get() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

/// The hidden fields that carry the authorization request through a form.
pub type Carried<'a> = &'a [(String, String)];

/// What the sign-in page shows.
pub struct SignIn<'a> {
    /// Where the form posts: the authorization request's or the device
    /// page's sign-in.
    pub action: &'a str,
    pub client_name: &'a str,
    pub carried: Carried<'a>,
    pub csrf: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
}

pub fn sign_in(p: &SignIn<'_>) -> Markup {
    page(
        "Sign in",
        html! {
            h1 { "Sign in" }
            p.muted { "to continue to " strong { (p.client_name) } }
            @if let Some(e) = p.error { p.error role="alert" { (e) } }
            form method="post" action=(p.action) {
                (hidden(p.carried, p.csrf))
                label for="username" { "Username" }
                input #username type="text" name="username" value=(p.username)
                    autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input #password type="password" name="password"
                    autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// What the consent page shows.
pub struct Consent<'a> {
    pub client_name: &'a str,
    pub username: &'a str,
    pub scopes: Vec<&'a str>,
    pub carried: Carried<'a>,
    pub csrf: &'a str,
}

pub fn consent(p: &Consent<'_>) -> Markup {
    page(
        "Allow access?",
        html! {
            h1 { "Allow access?" }
            p { strong { (p.client_name) } " asks to act as " strong { (p.username) } "." }
            @if p.scopes.is_empty() {
                p.muted { "It asks for no particular permission." }
            } @else {
                p { "It asks for:" }
                ul.scopes { @for s in &p.scopes { li { code { (s) } } } }
            }
            form method="post" action="/oauth2/authorize/consent" {
                (hidden(p.carried, p.csrf))
                button type="submit" name="decision" value="allow" { "Allow" }
                button.secondary type="submit" name="decision" value="deny" { "Deny" }
            }
        },
    )
}

/// The device page's first question: which code does the device show?
pub fn device_entry(csrf: &str, user_code: &str, error: Option<&str>) -> Markup {
    page(
        "Connect a device",
        html! {
            h1 { "Connect a device" }
            p { "Enter the code your device shows." }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="post" action="/oauth2/device" {
                (hidden(&[], csrf))
                label for="user_code" { "Code" }
                input #user_code type="text" name="user_code" value=(user_code)
                    autocomplete="one-time-code" autocapitalize="characters"
                    spellcheck="false" placeholder="XXXX-XXXX" required autofocus;
                button type="submit" { "Continue" }
            }
        },
    )
}

/// What the device confirmation page shows.
pub struct DeviceConsent<'a> {
    pub client_name: &'a str,
    pub username: &'a str,
    pub user_code: &'a str,
    pub scopes: Vec<&'a str>,
    pub carried: Carried<'a>,
    pub csrf: &'a str,
}

/// Allow the device? Always asked, naming the client and the code, so a
/// person sent a code by someone else sees what they would be allowing
/// (RFC 8628 §5.4).
pub fn device_consent(p: &DeviceConsent<'_>) -> Markup {
    page(
        "Allow the device?",
        html! {
            h1 { "Allow the device?" }
            p { strong { (p.client_name) } " on a device asks to act as " strong { (p.username) } "." }
            p { "Allow it only if your device shows the code " strong.code { (p.user_code) } " and you started this yourself." }
            @if !p.scopes.is_empty() {
                p { "It asks for:" }
                ul.scopes { @for s in &p.scopes { li { code { (s) } } } }
            }
            form method="post" action="/oauth2/device/confirm" {
                (hidden(p.carried, p.csrf))
                button type="submit" name="decision" value="allow" { "Allow" }
                button.secondary type="submit" name="decision" value="deny" { "Deny" }
            }
        },
    )
}

/// After the decision: back to the device.
pub fn device_done(allowed: bool) -> Markup {
    page(
        "Device",
        html! {
            @if allowed {
                h1 { "Device connected" }
                p { "You can return to your device: it continues by itself." }
            } @else {
                h1 { "Device not connected" }
                p { "The device was refused. It gets no access." }
            }
            p.muted { "You can close this page." }
        },
    )
}

/// The sign-out question (RP-Initiated Logout without a hint for the person
/// signed in).
pub fn sign_out(
    carried: Carried<'_>,
    csrf: &str,
    username: &str,
    client_name: Option<&str>,
) -> Markup {
    page(
        "Sign out?",
        html! {
            h1 { "Sign out?" }
            p { "You are signed in as " strong { (username) } "." }
            @if let Some(name) = client_name {
                p.muted { strong { (name) } " asks to sign you out of this server." }
            }
            form method="post" action="/oauth2/logout/confirm" {
                (hidden(carried, csrf))
                button type="submit" name="decision" value="sign-out" { "Sign out" }
                button.secondary type="submit" name="decision" value="stay" { "Stay signed in" }
            }
        },
    )
}

/// After a sign-out that has nowhere to return to.
pub fn signed_out(signed_out: bool) -> Markup {
    page(
        "Signed out",
        html! {
            h1 { "Signed out" }
            @if signed_out { p { "You are signed out." } } @else { p { "You are still signed in." } }
            p.muted { "You can close this page." }
        },
    )
}

/// Something is wrong with the request itself: said to the person, who is
/// not sent anywhere.
pub fn error(message: &str) -> Markup {
    page(
        "Cannot continue",
        html! {
            h1 { "Cannot continue" }
            p.error role="alert" { (message) }
            p.muted { "Go back to the application and try again, or tell its developers." }
        },
    )
}

/// The script that submits the form post response at once.
const SUBMIT_SCRIPT: &str = "document.forms[0].submit();";

/// The policy of the form post response: [`SUBMIT_SCRIPT`] by its SHA-256
/// (a test keeps the two together), the form to anywhere.
const FORM_POST_CSP: &str = "default-src 'none'; script-src 'sha256-8lDeP0UDwCO6/RhblgeH/ctdBzjVpJxrXizsnIk3cEQ='; style-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// OAuth 2.0 Form Post Response Mode: a page whose form the browser posts
/// to the client's redirect URI at once, carrying `fields`.
pub fn form_post(action: &str, fields: &[(&str, &str)]) -> Response {
    let markup = page(
        "Returning to the application",
        html! {
            form method="post" action=(action) {
                @for (k, v) in fields { input type="hidden" name=(k) value=(v); }
                p.muted { "Returning you to the application…" }
                noscript { button type="submit" { "Continue" } }
            }
            script { (maud::PreEscaped(SUBMIT_SCRIPT)) }
        },
    );
    respond_with(StatusCode::OK, markup, FORM_POST_CSP, "no-referrer")
}

fn hidden(carried: Carried<'_>, csrf: &str) -> Markup {
    html! {
        input type="hidden" name="csrf" value=(csrf);
        @for (k, v) in carried { input type="hidden" name=(k) value=(v); }
    }
}

fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · tollgate" }
                link rel="stylesheet" href=(STYLE_PATH);
            }
            body { main { (body) } }
        }
    }
}

/// An HTML response with the headers every page gets: no caching, no
/// framing, no inline script or style, no referrer.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    respond_with(
        status,
        markup,
        "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'",
        "no-referrer",
    )
}

/// An HTML response under this Content-Security-Policy and referrer
/// policy, with the other headers every page gets (no caching, no framing,
/// no sniffing).
pub fn respond_with(
    status: StatusCode,
    markup: Markup,
    csp: &'static str,
    referrer: &'static str,
) -> Response {
    let mut resp = (status, markup.into_string()).into_response();
    let h = resp.headers_mut();
    let set = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, referrer),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    for (name, value) in set {
        h.insert(name, HeaderValue::from_static(value));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_post_policy_allows_exactly_its_script() {
        use base64::Engine as _;
        use sha2::Digest as _;
        let hash = base64::engine::general_purpose::STANDARD
            .encode(sha2::Sha256::digest(SUBMIT_SCRIPT.as_bytes()));
        assert!(FORM_POST_CSP.contains(&format!("'sha256-{hash}'")));
        let resp = form_post("https://app.example/cb", &[("code", "a\"b")]);
        assert_eq!(resp.status(), StatusCode::OK);
    }

    #[test]
    fn values_are_escaped_and_forms_carry_the_csrf_token() {
        let carried = vec![("state".to_owned(), "\"><script>x</script>".to_owned())];
        let html = sign_in(&SignIn {
            action: "/oauth2/authorize/sign-in",
            client_name: "<b>App</b>",
            carried: &carried,
            csrf: "tok",
            username: "",
            error: Some("wrong"),
        })
        .into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;b&gt;App&lt;/b&gt;"), "{html}");
        assert!(html.contains(r#"name="csrf" value="tok""#), "{html}");
        assert!(html.contains(r#"<label for="password">"#), "{html}");
        assert!(!html.contains("style="), "no inline style: {html}");
    }
}
