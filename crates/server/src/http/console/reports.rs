//! What the console reports: one client's usage (its page for the
//! developer and for admins), usage across every client, the audit log,
//! and the signing keys (with rotate and retire).

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use tollgate_proto::admin::{CallUsage, ClientInfo, KeyRotation, KeyState, Role};

use super::auth::Posted;
use super::chart::{self, Day};
use super::redirect;
use super::views::{self, count, limit, when, Detour, Nav};
use super::visitor::Visitor;
use crate::clock::{day_of, iso_day};
use crate::state::AppState;
use crate::store::{AuditQuery, UsageQuery};

/// Days the usage charts cover, today included.
const DAYS: i64 = 30;

/// Call records of the last [`DAYS`] days (of one client, or all).
async fn recent_calls(
    state: &AppState,
    client_id: Option<&str>,
    days: i64,
) -> Result<(i64, Vec<CallUsage>), crate::store::StoreError> {
    let today = day_of(state.clock().now_ms());
    let from = today - (days - 1);
    let query = UsageQuery {
        client_id: client_id.map(str::to_owned),
        from: iso_day(from),
        to: iso_day(today),
    };
    let (calls, _) = state.store().usage(&query).await?;
    Ok((from, calls))
}

/// One client's usage: today against its quota, its per-second limit, and
/// its calls per day and per route over 30 days.
pub async fn client_usage(state: &AppState, c: &ClientInfo) -> Markup {
    let standing = state
        .resource()
        .standing(&c.client_id, c.settings.qps, c.settings.per_day)
        .await;
    let recent = recent_calls(state, Some(&c.client_id), DAYS)
        .await
        .map_err(|e| tracing::warn!(error = %e, "console: cannot read usage"))
        .ok();
    let today = iso_day(day_of(state.clock().now_ms()));
    let today_calls: u64 = recent
        .iter()
        .flat_map(|(_, calls)| calls)
        .filter(|c| c.day == today)
        .map(|c| c.admitted)
        .sum();
    html! {
        section aria-labelledby="quota-h" {
            h2 #quota-h { "Quota" }
            @match standing {
                Some((standing, limits)) => {
                    dl.facts {
                        dt { "Calls today (UTC)" }
                        dd #quota-today {
                            @if let Some((lim, remaining, reset)) = standing.per_day {
                                @let used = lim.saturating_sub(remaining);
                                span #quota-used { (count(used)) } " of " span #quota-limit { (count(lim)) }
                                " (" (count(remaining)) " left; the day ends in " (reset / 3600) " h " (reset % 3600 / 60) " min)"
                                br;
                                meter #quota-meter min="0" max=(lim) value=(used) low=(lim / 2) high=(lim * 9 / 10) optimum="0"
                                    aria-labelledby="quota-h" {}
                            } @else {
                                span #quota-used { (count(today_calls)) } " (no daily limit)"
                            }
                        }
                        dt { "Per-second limit" }
                        dd #quota-qps { (limit(limits.qps, "calls a second")) }
                    }
                }
                None => p.notice { "The quota store cannot be read now." }
            }
        }
        section aria-labelledby="usage-h" {
            h2 #usage-h { "Calls, last 30 days" }
            @match recent {
                Some((from, calls)) => (usage_charts(from, &calls, state.config().usage_flush.as_secs().max(1))),
                None => p.notice { "Usage cannot be read now." },
            }
        }
    }
}

/// Per-day columns and per-route bars of a set of call records.
fn usage_charts(from: i64, calls: &[CallUsage], flush_secs: u64) -> Markup {
    let mut by_day: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut by_route: BTreeMap<&str, u64> = BTreeMap::new();
    for c in calls {
        let refused = c.rejected_per_second + c.rejected_per_day;
        let d = by_day.entry(&c.day).or_default();
        d.0 += c.admitted;
        d.1 += refused;
        *by_route.entry(&c.route).or_default() += c.admitted + refused;
    }
    let days: Vec<Day> = (from..from + DAYS)
        .map(|d| {
            let day = iso_day(d);
            let (admitted, refused) = by_day.get(day.as_str()).copied().unwrap_or_default();
            Day {
                day,
                admitted,
                refused,
            }
        })
        .collect();
    let total: u64 = days.iter().map(|d| d.admitted).sum();
    let refused: u64 = days.iter().map(|d| d.refused).sum();
    let routes = largest_first(by_route.into_iter().map(|(r, n)| (r.to_owned(), n)));
    html! {
        p #usage-total { (count(total)) " calls admitted, " (count(refused)) " refused by a quota." }
        p.muted { "Counts reach this page within " (flush_secs) " s; the quota above is live." }
        (chart::daily(&days, "Calls per day over the last 30 days: admitted, and refused by a quota"))
        p.legend { span.key.admitted {} "admitted " span.key.refused {} "refused by a quota" }
        h3 { "By route" }
        @if routes.is_empty() {
            p.muted { "No calls yet." }
        } @else {
            (chart::bars(&routes, "Calls per route over the last 30 days", "admitted"))
        }
    }
}

fn largest_first(items: impl Iterator<Item = (String, u64)>) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = items.filter(|(_, n)| *n > 0).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(10);
    v
}

/// `GET /console/admin/usage?days=`
#[derive(Debug, Deserialize)]
pub struct UsageQueryParams {
    days: Option<i64>,
}

pub async fn usage(
    State(state): State<AppState>,
    v: Visitor,
    Query(q): Query<UsageQueryParams>,
) -> Result<Response, Detour> {
    v.require(Role::Admin)?;
    let days = q.days.unwrap_or(DAYS).clamp(1, 366);
    let (_, calls) = recent_calls(&state, None, days)
        .await
        .map_err(|e| views::failed(&v, Nav::Usage, e.into()))?;
    let mut calls_by: BTreeMap<&str, u64> = BTreeMap::new();
    let mut refused_by: BTreeMap<&str, u64> = BTreeMap::new();
    for c in &calls {
        *calls_by.entry(&c.client_id).or_default() += c.admitted;
        *refused_by.entry(&c.client_id).or_default() += c.rejected_per_second + c.rejected_per_day;
    }
    let top_calls = named(
        &state,
        largest_first(calls_by.into_iter().map(|(k, n)| (k.to_owned(), n))),
    )
    .await;
    let top_refused = named(
        &state,
        largest_first(refused_by.into_iter().map(|(k, n)| (k.to_owned(), n))),
    )
    .await;
    let body = html! {
        h1 { "Usage across all clients" }
        form.inline method="get" action="/console/admin/usage" {
            label for="days" { "Days" }
            select #days name="days" {
                @for d in [1, 7, 30, 90] {
                    option value=(d) selected[d == days] { (d) }
                }
            }
            button type="submit" { "Show" }
        }
        h2 { "Top clients by calls admitted" }
        @if top_calls.is_empty() { p.muted { "No calls in this period." } }
        @else { (chart::bars(&labels(&top_calls), "Top clients by calls admitted", "admitted")) (client_links(&top_calls)) }
        h2 { "Top clients by quota refusals" }
        @if top_refused.is_empty() { p.muted { "No refusals in this period." } }
        @else { (chart::bars(&labels(&top_refused), "Top clients by calls refused by a quota", "refused")) (client_links(&top_refused)) }
    };
    Ok(views::respond(
        StatusCode::OK,
        views::layout(&v, Nav::Usage, "Usage", body),
    ))
}

/// A client on a top list: its id, its name (when it still exists), its count.
struct Ranked {
    id: String,
    name: Option<String>,
    count: u64,
}

/// The clients' names, looked up (at most ten).
async fn named(state: &AppState, items: Vec<(String, u64)>) -> Vec<Ranked> {
    let mut out = Vec::with_capacity(items.len());
    for (id, count) in items {
        let name = state
            .store()
            .get_client(&id)
            .await
            .ok()
            .flatten()
            .map(|c| c.settings.client_name);
        out.push(Ranked { id, name, count });
    }
    out
}

fn labels(items: &[Ranked]) -> Vec<(String, u64)> {
    items
        .iter()
        .map(|r| (r.name.clone().unwrap_or_else(|| r.id.clone()), r.count))
        .collect()
}

fn client_links(items: &[Ranked]) -> Markup {
    html! {
        ul.links {
            @for r in items {
                li {
                    a href=(format!("/console/admin/clients/{}", enc(&r.id))) { (r.name.as_deref().unwrap_or("(deleted)")) }
                    " " code { (r.id) } " · " (count(r.count))
                }
            }
        }
    }
}

/// A path segment, percent-encoded.
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// `GET /console/admin/audit?before=&target=`
#[derive(Debug, Deserialize)]
pub struct AuditParams {
    before: Option<i64>,
    target: Option<String>,
}

pub async fn audit(
    State(state): State<AppState>,
    v: Visitor,
    Query(q): Query<AuditParams>,
) -> Result<Response, Detour> {
    v.require(Role::Admin)?;
    let target = q.target.filter(|t| !t.is_empty());
    let query = AuditQuery {
        before: q.before,
        limit: 50,
        target: target.clone(),
    };
    let page = v
        .admin(&state)
        .audit_log(query)
        .await
        .map_err(|e| views::failed(&v, Nav::Audit, e))?;
    let older = page.next.as_ref().map(|next| {
        let mut more = form_urlencoded::Serializer::new(String::new());
        more.append_pair("before", next);
        if let Some(t) = &target {
            more.append_pair("target", t);
        }
        format!("/console/admin/audit?{}", more.finish())
    });
    let body = html! {
        h1 { "Audit log" }
        form.inline method="get" action="/console/admin/audit" {
            label for="target" { "Target" }
            input #target type="search" name="target" value=[target.as_deref()] placeholder="client id or username";
            button type="submit" { "Filter" }
        }
        div.table-wrap {
            table {
                thead { tr { th { "When" } th { "Who" } th { "What" } th { "Target" } th { "Detail" } } }
                tbody {
                    @for e in &page.items {
                        tr {
                            td { (when(e.at)) }
                            td { (e.actor) }
                            td { code { (e.action) } }
                            td { (e.target) }
                            td { code.detail { (e.detail.to_string()) } }
                        }
                    }
                }
            }
        }
        @if page.items.is_empty() { p.muted { "Nothing recorded." } }
        @if let Some(older) = older {
            p { a href=(older) { "Older entries" } }
        }
    };
    Ok(views::respond(
        StatusCode::OK,
        views::layout(&v, Nav::Audit, "Audit log", body),
    ))
}

pub async fn keys(State(state): State<AppState>, v: Visitor) -> Result<Response, Detour> {
    v.require(Role::Admin)?;
    let keys = v
        .admin(&state)
        .keys()
        .await
        .map_err(|e| views::failed(&v, Nav::Keys, e))?;
    let body = html! {
        h1 { "Signing keys" }
        p.muted { "The keys that sign JWT access tokens and ID tokens, as published in the JWKS." }
        div.table-wrap {
            table {
                thead { tr { th { "Key id" } th { "Algorithm" } th { "State" } th { "Signs from" } th { "Published until" } th { span.visually-hidden { "Actions" } } } }
                tbody {
                    @for k in &keys {
                        tr {
                            td { code { (k.kid) } }
                            td { (k.alg) }
                            td { (k.state) }
                            td { (when(k.signs_from)) }
                            td { (k.published_until.map(when).unwrap_or_default()) }
                            td {
                                @if k.state != KeyState::Retired {
                                    form method="post" action=(format!("/console/admin/keys/{}/retire", enc(&k.kid))) {
                                        (views::csrf(&v))
                                        button.secondary type="submit" { "Retire" span.visually-hidden { " " (k.kid) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        form method="post" action="/console/admin/keys" {
            (views::csrf(&v))
            button type="submit" { "Rotate: add a new key" }
            p.muted { "The new key is published at once and signs once verifiers have had time to fetch it." }
        }
    };
    Ok(views::respond(
        StatusCode::OK,
        views::layout(&v, Nav::Keys, "Signing keys", body),
    ))
}

pub async fn rotate_key(
    State(state): State<AppState>,
    Posted { v, .. }: Posted,
) -> Result<Response, Detour> {
    v.require(Role::Admin)?;
    v.admin(&state)
        .rotate_keys(&state.config().jwt, KeyRotation::default())
        .await
        .map_err(|e| views::failed(&v, Nav::Keys, e))?;
    Ok(redirect("/console/admin/keys"))
}

pub async fn retire_key(
    State(state): State<AppState>,
    Path(kid): Path<String>,
    Posted { v, .. }: Posted,
) -> Result<Response, Detour> {
    v.require(Role::Admin)?;
    let config = state.config();
    v.admin(&state)
        .retire_key_after_tokens(&kid, config.token_ttl, config.jwt.leeway_secs)
        .await
        .map_err(|e| views::failed(&v, Nav::Keys, e))?;
    Ok(redirect("/console/admin/keys"))
}
