//! The console's frame and the pieces every page shares: the header with
//! its navigation and sign-out button, message pages, the response headers
//! (a CSP that allows only this origin's style sheet and script), and how a
//! failed operation is told to the person. maud escapes every value.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use tollgate_proto::admin::Role;

use super::visitor::Visitor;
use super::{PREFIX, SCRIPT_PATH, STYLE_PATH};
use crate::admin::AdminError;
use crate::clock::iso_day;
use crate::store::StoreError;

/// Which part of the console a page belongs to (its tab is marked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    None,
    Apps,
    Clients,
    Users,
    Usage,
    Audit,
    Keys,
}

const DEVELOPER_TABS: [(Nav, &str, &str); 1] = [(Nav::Apps, "/console/apps", "My apps")];
const ADMIN_TABS: [(Nav, &str, &str); 5] = [
    (Nav::Clients, "/console/admin/clients", "Clients"),
    (Nav::Users, "/console/admin/users", "Users"),
    (Nav::Usage, "/console/admin/usage", "Usage"),
    (Nav::Audit, "/console/admin/audit", "Audit log"),
    (Nav::Keys, "/console/admin/keys", "Signing keys"),
];

/// A whole page for a signed-in person.
pub fn layout(v: &Visitor, nav: Nav, title: &str, body: Markup) -> Markup {
    let tabs = DEVELOPER_TABS
        .iter()
        .filter(|_| v.is(Role::Developer))
        .chain(ADMIN_TABS.iter().filter(|_| v.is(Role::Admin)));
    document(
        title,
        html! {
            a.skip href="#main" { "Skip to the page" }
            header.top {
                a.brand href=(PREFIX) { "tollgate" span.muted { " console" } }
                nav aria-label="Console" {
                    @for (tab, href, label) in tabs {
                        @if *tab == nav {
                            a href=(href) aria-current="page" { (label) }
                        } @else {
                            a href=(href) { (label) }
                        }
                    }
                }
                form.signout method="post" action="/console/sign-out" {
                    (csrf(v))
                    span.who { (v.username) }
                    button.link type="submit" { "Sign out" }
                }
            }
            main #main tabindex="-1" { (body) }
        },
    )
}

fn document(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · tollgate console" }
                link rel="stylesheet" href=(STYLE_PATH);
                script src=(SCRIPT_PATH) defer {}
            }
            body { (body) }
        }
    }
}

/// The hidden field that proves a form came from this session's page.
pub fn csrf(v: &Visitor) -> Markup {
    html! { input type="hidden" name="csrf" value=(v.csrf); }
}

/// A page that only says something.
pub fn message(v: &Visitor, nav: Nav, title: &str, text: &str) -> Markup {
    layout(
        v,
        nav,
        title,
        html! {
            h1 { (title) }
            p.notice role="alert" { (text) }
            p { a href=(PREFIX) { "Back to the console" } }
        },
    )
}

/// A page shown instead of the one asked for (not allowed, not found, a
/// bad form): a handler's `Err`, boxed so results stay small.
#[derive(Debug)]
pub struct Detour(Box<Response>);

impl From<Response> for Detour {
    fn from(r: Response) -> Self {
        Detour(Box::new(r))
    }
}

impl IntoResponse for Detour {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// A page for someone not signed in (any more), with the way back in.
pub fn signed_out_page(status: StatusCode, text: &str) -> Response {
    respond(
        status,
        document(
            "Signed out",
            html! {
                header.top { a.brand href=(PREFIX) { "tollgate" span.muted { " console" } } }
                main.narrow {
                    h1 { "tollgate console" }
                    p.notice role="status" { (text) }
                    p { a.button href="/console/sign-in" { "Sign in" } }
                }
            },
        ),
    )
}

pub fn unavailable() -> Response {
    signed_out_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "The server cannot do this now. Try again in a moment.",
    )
}

pub fn not_found(v: &Visitor, nav: Nav) -> Detour {
    Detour::from(respond(
        StatusCode::NOT_FOUND,
        message(
            v,
            nav,
            "Not found",
            "There is nothing here, or it is not yours to see.",
        ),
    ))
}

/// An operation that did not happen, told to the person: what they can
/// fix is said; the server's own trouble is logged and summarised.
pub fn failed(v: &Visitor, nav: Nav, e: AdminError) -> Detour {
    let (status, text) = match e {
        AdminError::Invalid(why) => (StatusCode::BAD_REQUEST, why),
        AdminError::Store(StoreError::NotFound(_)) => return not_found(v, nav),
        AdminError::Store(StoreError::Conflict(what)) => {
            (StatusCode::CONFLICT, format!("{what} already exists"))
        }
        other => {
            tracing::warn!(error = %other, "console: an operation failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "The server cannot do this now. Try again in a moment.".to_owned(),
            )
        }
    };
    Detour::from(respond(status, message(v, nav, "That did not work", &text)))
}

/// An HTML response with the console's headers: no caching (pages show
/// secrets once), no framing, scripts and styles from this origin only.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    crate::http::pages::respond_with(
        status,
        markup,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        "same-origin",
    )
}

/// Unix seconds as `YYYY-MM-DD HH:MM UTC`.
pub fn when(unix: i64) -> String {
    let secs = unix.rem_euclid(86_400);
    format!(
        "{} {:02}:{:02} UTC",
        iso_day(unix.div_euclid(86_400)),
        secs / 3600,
        secs % 3600 / 60
    )
}

/// A count with thousands separated: `12,345`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A quota setting as people read it.
pub fn limit(value: u64, unit: &str) -> String {
    if value == 0 {
        "unlimited".to_owned()
    } else {
        format!("{} {unit}", count(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_times_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
        assert_eq!(when(86_400 + 3600 + 60), "1970-01-02 01:01 UTC");
        assert_eq!(limit(0, "a day"), "unlimited");
    }
}
