//! Issue 31, point 3: whatever fails below (the store closed, or its tables
//! gone), no error body and no page says so in the store's or the driver's
//! words. Every documented operation, every grant, the authorization
//! endpoint and the console's pages are called with credentials that were
//! good (and are cached) before the failure, so the requests reach the
//! store rather than stopping at authentication.

use tollgate_proto::basic::BasicEncoding;
use tollgate_proto::client::ClientSettings;
use tollgate_proto::{BasicCredentials, GrantType};

use crate::common::{urlencode, TestServer};
use crate::console::{self, Person};

/// Words of the store, of sqlx, SQLite and PostgreSQL, and of the broken
/// schema (`clients_gone`), any case.
const LEAKS: &[&str] = &[
    "sqlx",
    "sqlite",
    "postgres",
    "no such",
    "database",
    "error returned",
    "pool",
    "sqlstate",
    "corrupt",
    "_gone",
    "storeerror",
];

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

/// What the calls need: the server, an admin token, a client with a live
/// token and refresh token, a code-flow client, and two signed-in people.
struct World {
    s: TestServer,
    admin: String,
    client: (String, String),
    access: String,
    refresh: String,
    code_client: String,
    dana: Person,
    ada: Person,
    csrf: String,
    doc: serde_json::Value,
}

async fn world() -> World {
    let s = console::server().await;
    let admin = s
        .client(&[GrantType::ClientCredentials], "tollgate:admin")
        .await;
    let admin = s
        .access_token(
            &admin.0,
            &admin.1,
            "grant_type=client_credentials&scope=tollgate:admin",
        )
        .await;
    let client = s
        .client(
            &[
                GrantType::ClientCredentials,
                GrantType::Password,
                GrantType::RefreshToken,
            ],
            "locations:read",
        )
        .await;
    let body = "grant_type=password&username=dana&password=dana-password&scope=locations:read";
    let r = s.token(&client.0, &client.1, body).await;
    assert_eq!(r.status, 200, "{r:?}");
    let access = r.json["access_token"].as_str().unwrap().to_owned();
    let refresh = r.json["refresh_token"].as_str().unwrap().to_owned();
    let code_client = s
        .register(ClientSettings {
            client_name: "Photo app".into(),
            scope: "locations:read".parse().unwrap(),
            grant_types: [GrantType::AuthorizationCode].into(),
            redirect_uris: vec!["http://127.0.0.1:53682/cb".into()],
            ..ClientSettings::default()
        })
        .await
        .0;
    let mut dana = Person::new(&s);
    let (_, home) = dana
        .open_signed_in("/console/apps/new", "dana", "dana-password")
        .await;
    let csrf = Person::csrf(&home);
    let mut ada = Person::new(&s);
    ada.open_signed_in("/console/admin/clients", "ada", "ada-password")
        .await;
    // The admin token and the client's tokens are validated once, so the
    // caches hold them when the store fails.
    assert_eq!(s.api("/admin/v1/clients", Some(&admin)).await.status, 200);
    assert_eq!(s.api("/locations", Some(&access)).await.status, 200);
    let doc = s.api("/openapi.json", None).await.json;
    World {
        s,
        admin,
        client,
        access,
        refresh,
        code_client,
        dana,
        ada,
        csrf,
        doc,
    }
}

/// One answer: what was asked, its status and its body.
type Answer = (String, u16, String);

/// Every documented operation: the admin API with the admin token (path
/// parameters naming a real client or user), the OAuth endpoints with the
/// client's credentials and a form that would succeed.
async fn documented(w: &World) -> Vec<Answer> {
    let mut out = Vec::new();
    for (path, item) in w.doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{client_id}", &w.client.0)
            .replace("{username}", "dana")
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            let mut req =
                w.s.http
                    .request(method.to_uppercase().parse().unwrap(), w.s.url(&concrete));
            if concrete.starts_with("/oauth") {
                let form = if concrete.contains("token") {
                    "grant_type=client_credentials".to_owned()
                } else {
                    format!("token={}", urlencode(&w.access))
                };
                req = req
                    .header("authorization", basic(&w.client))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form);
            } else {
                req = req
                    .bearer_auth(&w.admin)
                    .header("content-type", "application/json")
                    .body(r#"{"client_name":"x","enabled":false}"#);
            }
            let r = req.send().await.unwrap();
            out.push(answer(format!("{method} {concrete}"), r).await);
        }
    }
    out
}

/// The grants, the authorization endpoint, the APIs and the console.
async fn undocumented(w: &mut World) -> Vec<Answer> {
    let mut out = Vec::new();
    for form in [
        "grant_type=password&username=dana&password=dana-password".to_owned(),
        format!(
            "grant_type=refresh_token&refresh_token={}",
            urlencode(&w.refresh)
        ),
        "grant_type=authorization_code&code=abc&redirect_uri=http://127.0.0.1/cb".to_owned(),
    ] {
        let r = w.s.token(&w.client.0, &w.client.1, &form).await;
        out.push((form, r.status, r.body));
    }
    let authorize = format!(
        "/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&state=s\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        w.code_client,
        urlencode("http://127.0.0.1:53682/cb")
    );
    for path in [authorize.as_str(), "/userinfo", "/locations", "/readyz"] {
        let r = w.s.api(path, Some(&w.access)).await;
        out.push((path.to_owned(), r.status, r.body));
    }
    for path in [
        "/console/",
        "/console/apps",
        &format!("/console/apps/{}", w.client.0),
    ] {
        let page = w.dana.get(path).await;
        out.push((path.to_owned(), page.status, page.body));
    }
    let created = w
        .dana
        .post("/console/apps", &[("csrf", &w.csrf), ("name", "x")])
        .await;
    out.push(("POST /console/apps".into(), created.status, created.body));
    for path in [
        "/console/admin/clients",
        &format!("/console/admin/clients/{}", w.client.0),
        "/console/admin/users",
        "/console/admin/usage",
        "/console/admin/audit",
    ] {
        let page = w.ada.get(path).await;
        out.push((path.to_owned(), page.status, page.body));
    }
    out
}

fn basic(c: &(String, String)) -> String {
    BasicCredentials::new(&c.0, &c.1).header_value(BasicEncoding::Raw)
}

async fn answer(what: String, r: reqwest::Response) -> Answer {
    let status = r.status().as_u16();
    (what, status, r.text().await.unwrap())
}

/// No error names the store; and enough answers were `status` for the
/// check to mean something (the store was reached, not only the caches).
fn assert_no_leaks(answers: &[Answer], status: u16) {
    for (what, code, body) in answers.iter().filter(|(_, code, _)| *code >= 400) {
        let lower = body.to_lowercase();
        for leak in LEAKS {
            assert!(
                !lower.contains(leak),
                "{what}: {code} shows `{leak}`: {body:.600}"
            );
        }
    }
    let failed: Vec<&str> = answers
        .iter()
        .filter(|(_, code, _)| *code == status)
        .map(|(what, _, _)| what.as_str())
        .collect();
    let all: Vec<(&str, u16)> = answers.iter().map(|(w, c, _)| (w.as_str(), *c)).collect();
    assert!(
        failed.len() >= 15,
        "only {} were {status}: {all:#?}",
        failed.len()
    );
}

async fn every_answer(w: &mut World) -> Vec<Answer> {
    let mut all = documented(w).await;
    all.extend(undocumented(w).await);
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_store_is_never_named() {
    let mut w = world().await;
    w.s.break_database().await;
    let answers = every_answer(&mut w).await;
    assert_no_leaks(&answers, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_store_is_never_named() {
    let mut w = world().await;
    w.s.state.store().close().await;
    let answers = every_answer(&mut w).await;
    assert_no_leaks(&answers, 503);
}
