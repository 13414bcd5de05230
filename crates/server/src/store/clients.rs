//! Registered clients: the record, and its storage.
//!
//! A client's settings are one JSON document (`ClientSettings`, so a
//! setting added later needs no column and reads as its default from rows
//! written before it); `name` and `grants` are copied out of them for the
//! list's filters. Deleting a client deletes its tokens, codes and consents.

use async_trait::async_trait;
use tollgate_proto::client::ClientSettings;
use tollgate_proto::{GrantType, Scope};

use super::rows::{contains_pattern, digest, found, grants_to_string, named, parse_scope};
use super::sql::{Backend, Conn, Stmt};
use super::{Digest, StoreError, StoreResult};

/// A registered client: its settings (the one type the admin API, the
/// console and the CLI edit), its secrets' digests, and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub settings: ClientSettings,
    pub secret_hash: Digest,
    /// The secret it had before its last rotation, while still accepted.
    pub previous_secret: Option<PreviousSecret>,
    pub enabled: bool,
    pub created_at: i64,
    /// The person who registered it in the developer portal; `None` for a
    /// client an admin made.
    pub owner: Option<String>,
    /// Scopes asked for in the portal that an admin has yet to approve.
    pub requested_scopes: Scope,
    /// The digest of its registration access token (RFC 7592), when it
    /// registered itself.
    pub registration_hash: Option<Digest>,
}

/// A replaced client secret that keeps working for a grace period, so a
/// fleet of callers can switch to the new one without an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviousSecret {
    pub hash: Digest,
    /// Unix seconds: refused from here on.
    pub until: i64,
}

/// A change to a client, made inside the store's transaction: it edits the
/// record read, and says whether to store the result (`false`: leave it).
pub type ClientEdit<'a> = &'a mut (dyn FnMut(&mut Client) -> bool + Send);

/// Which clients a page of the list holds: those after `after` (by id),
/// at most `limit`, matching every filter given.
#[derive(Debug, Clone, Default)]
pub struct ClientFilter {
    pub after: Option<String>,
    pub limit: u32,
    pub enabled: Option<bool>,
    /// Part of the name, any case.
    pub name: Option<String>,
    pub grant: Option<GrantType>,
    /// Only this person's clients.
    pub owner: Option<String>,
    /// Only clients with scopes awaiting approval.
    pub pending: bool,
}

#[async_trait]
pub trait Clients {
    async fn create_client(&self, client: &Client) -> StoreResult<()>;
    async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>>;
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;
    /// One page of clients, by id.
    async fn list_clients_page(&self, filter: &ClientFilter) -> StoreResult<Vec<Client>>;
    /// Deletes a client with its tokens, codes and consents; `NotFound`
    /// when there is no such client.
    async fn delete_client(&self, client_id: &str) -> StoreResult<()>;
    /// Reads the client, lets `edit` change it and stores the result, in
    /// one transaction, so concurrent edits never undo each other; the
    /// client as stored, or `None` when `edit` declined. `NotFound` when
    /// there is no such client.
    async fn update_client(
        &self,
        client_id: &str,
        now: i64,
        edit: ClientEdit<'_>,
    ) -> StoreResult<Option<Client>>;
}

#[async_trait]
impl<B: Backend> Clients for B {
    async fn create_client(&self, c: &Client) -> StoreResult<()> {
        let sql = "INSERT INTO clients (name, grants, secret_hash, previous_secret_hash, \
                   previous_secret_until, enabled, owner, requested_scopes, updated_at, \
                   settings, registration_hash, created_at, client_id) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
        let stmt = bind_client(Stmt::new(sql), c, c.created_at)?
            .bind(c.created_at)
            .bind(&c.client_id);
        let done = self.writing().await?.execute(stmt).await;
        done.map_err(named(|| format!("client `{}`", c.client_id)))?;
        Ok(())
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        let stmt = Stmt::new("SELECT * FROM clients WHERE client_id = $1").bind(client_id);
        let row: Option<ClientRow> = self.read().await?.fetch_optional(stmt).await?;
        row.map(Client::try_from).transpose()
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let stmt = Stmt::new("SELECT * FROM clients ORDER BY created_at, client_id");
        let rows: Vec<ClientRow> = self.read().await?.fetch_all(stmt).await?;
        rows.into_iter().map(Client::try_from).collect()
    }

    async fn list_clients_page(&self, f: &ClientFilter) -> StoreResult<Vec<Client>> {
        let grant = f
            .grant
            .map(|g| format!("% {} %", g.as_str().replace('_', "\\_")));
        let stmt = Stmt::new(
            "SELECT * FROM clients WHERE client_id > $1 \
             AND ($2 IS NULL OR enabled = $2) \
             AND ($3 IS NULL OR lower(name) LIKE $3 ESCAPE '\\') \
             AND ($4 IS NULL OR (' ' || grants || ' ') LIKE $4 ESCAPE '\\') \
             AND ($6 IS NULL OR owner = $6) \
             AND (NOT $7 OR requested_scopes <> '') \
             ORDER BY client_id LIMIT $5",
        )
        .bind(f.after.as_deref().unwrap_or(""))
        .bind(f.enabled)
        .bind(f.name.as_deref().map(contains_pattern))
        .bind(grant)
        .bind(i64::from(f.limit))
        .bind(f.owner.as_deref())
        .bind(f.pending);
        let rows: Vec<ClientRow> = self.read().await?.fetch_all(stmt).await?;
        rows.into_iter().map(Client::try_from).collect()
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<()> {
        let mut w = self.writing().await?;
        let mut tx = w.begin().await?;
        tx.execute(Stmt::new("DELETE FROM tokens WHERE client_id = $1").bind(client_id))
            .await?;
        let done = tx
            .execute(Stmt::new("DELETE FROM clients WHERE client_id = $1").bind(client_id))
            .await?;
        found(done, || format!("client `{client_id}`"))?;
        B::Conn::commit(tx).await
    }

    async fn update_client(
        &self,
        client_id: &str,
        now: i64,
        edit: ClientEdit<'_>,
    ) -> StoreResult<Option<Client>> {
        let mut w = self.writing().await?;
        let mut tx = w.begin().await?;
        let read = format!(
            "SELECT * FROM clients WHERE client_id = $1{}",
            B::FOR_UPDATE
        );
        let row: ClientRow = tx
            .fetch_optional(Stmt::new(read).bind(client_id))
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("client `{client_id}`")))?;
        let mut c = Client::try_from(row)?;
        if !edit(&mut c) {
            return Ok(None);
        }
        c.client_id = client_id.to_owned();
        let sql = "UPDATE clients SET name = $1, grants = $2, secret_hash = $3, \
                   previous_secret_hash = $4, previous_secret_until = $5, enabled = $6, \
                   owner = $7, requested_scopes = $8, updated_at = $9, settings = $10, \
                   registration_hash = $11 WHERE client_id = $12";
        tx.execute(bind_client(Stmt::new(sql), &c, now)?.bind(client_id))
            .await?;
        B::Conn::commit(tx).await?;
        Ok(Some(c))
    }
}

/// Binds a client's columns as $1..$11: `name` and `grants` (copied from
/// the settings, for the list's filters), the secrets, the state,
/// `updated_at`, the settings document, the registration token's digest.
fn bind_client<'q>(stmt: Stmt<'q>, c: &'q Client, updated_at: i64) -> StoreResult<Stmt<'q>> {
    let settings = serde_json::to_string(&c.settings)
        .map_err(|e| StoreError::Backend(format!("client settings: {e}")))?;
    Ok(stmt
        .bind(&c.settings.client_name)
        .bind(grants_to_string(&c.settings.grant_types))
        .bind(&c.secret_hash[..])
        .bind(c.previous_secret.as_ref().map(|p| &p.hash[..]))
        .bind(c.previous_secret.as_ref().map(|p| p.until))
        .bind(c.enabled)
        .bind(c.owner.as_deref())
        .bind(c.requested_scopes.to_string())
        .bind(updated_at)
        .bind(settings)
        .bind(c.registration_hash.as_ref().map(|h| &h[..])))
}

/// A client as stored.
#[derive(Debug, sqlx::FromRow)]
struct ClientRow {
    client_id: String,
    settings: String,
    secret_hash: Vec<u8>,
    previous_secret_hash: Option<Vec<u8>>,
    previous_secret_until: Option<i64>,
    enabled: bool,
    created_at: i64,
    owner: Option<String>,
    requested_scopes: String,
    registration_hash: Option<Vec<u8>>,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;

    fn try_from(r: ClientRow) -> StoreResult<Self> {
        Ok(Client {
            settings: parse_settings(&r.settings)?,
            secret_hash: digest(r.secret_hash)?,
            requested_scopes: parse_scope(&r.requested_scopes)?,
            previous_secret: match (r.previous_secret_hash, r.previous_secret_until) {
                (Some(hash), Some(until)) => Some(PreviousSecret {
                    hash: digest(hash)?,
                    until,
                }),
                _ => None,
            },
            registration_hash: r.registration_hash.map(digest).transpose()?,
            client_id: r.client_id,
            enabled: r.enabled,
            created_at: r.created_at,
            owner: r.owner,
        })
    }
}

/// A client's settings, read from the `settings` column.
pub(super) fn parse_settings(json: &str) -> StoreResult<ClientSettings> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("client settings: {e}")))
}
