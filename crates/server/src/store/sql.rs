//! The [`Store`](super::Store) methods both SQL backends share, written
//! once. The statements are the same text on SQLite and PostgreSQL: `$N`
//! placeholders mean argument N on both (SQLite reads `$N` as a numbered
//! parameter), and the schema's column types line up.
//!
//! `sql_store!(Type, Database)` expands to the whole `impl Store`, for
//! concrete sqlx types, so there is no generic database code to satisfy.
//! What differs stays in the backend's module, under names the macro calls:
//!
//! - `self.read_pool()`: the pool reads go through;
//! - `self.writing()`: a connection to write through ([`Writing`]); on
//!   SQLite the one write connection, taken with the process's write turn;
//! - `self.writer`: the group-commit task (`GroupCommit`) for token inserts;
//! - `insert_tokens(executor, &rows)`: one statement for a batch of tokens
//!   (a JSON array on SQLite, `UNNEST` on PostgreSQL);
//! - `SELECT_CLIENT_FOR_UPDATE`: the read that starts a client update (row
//!   lock on PostgreSQL; SQLite's single writer serialises anyway);
//! - `db_err`: which sqlx errors mean "unavailable, try later";
//! - `self.close_pools()`.

macro_rules! sql_store {
    ($store:ty, $db:ty) => {
        type Query<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>;

        super::sql_records::sql_records!($db);

        /// Binds a client's columns as $1..$10: `name` and `grants` (copied
        /// from the settings, for the list's filters), the secrets, the
        /// state, `updated_at`, and the settings document.
        fn bind_client<'q>(
            q: Query<'q>,
            c: &'q Client,
            settings: String,
            updated_at: i64,
        ) -> Query<'q> {
            q.bind(&c.settings.client_name)
                .bind(grants_to_string(&c.settings.grant_types))
                .bind(&c.secret_hash[..])
                .bind(c.previous_secret.as_ref().map(|p| p.hash.to_vec()))
                .bind(c.previous_secret.as_ref().map(|p| p.until))
                .bind(c.enabled)
                .bind(c.owner.as_deref())
                .bind(c.requested_scopes.to_string())
                .bind(updated_at)
                .bind(settings)
        }

        /// One row by key, converted.
        async fn fetch_optional<R, T>(
            pool: &sqlx::Pool<$db>,
            sql: &str,
            key: &str,
        ) -> StoreResult<Option<T>>
        where
            R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
            T: TryFrom<R, Error = StoreError>,
        {
            let row: Option<R> = sqlx::query_as(sql)
                .bind(key)
                .fetch_optional(pool)
                .await
                .map_err(db_err)?;
            row.map(T::try_from).transpose()
        }

        /// Every row, converted.
        async fn fetch_all<R, T>(pool: &sqlx::Pool<$db>, sql: &str) -> StoreResult<Vec<T>>
        where
            R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
            T: TryFrom<R, Error = StoreError>,
        {
            let rows: Vec<R> = sqlx::query_as(sql)
                .fetch_all(pool)
                .await
                .map_err(db_err)?;
            rows.into_iter().map(T::try_from).collect()
        }

        #[async_trait::async_trait]
        impl Store for $store {
            async fn create_client(&self, c: &Client) -> StoreResult<()> {
                let q = sqlx::query(
                    "INSERT INTO clients (name, grants, secret_hash, previous_secret_hash, \
                     previous_secret_until, enabled, owner, requested_scopes, updated_at, \
                     settings, created_at, client_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                );
                bind_client(q, c, settings_json(&c.settings)?, c.created_at)
                    .bind(c.created_at)
                    .bind(&c.client_id)
                    .execute(&mut *self.writing().await?)
                    .await
                    .map_err(|e| conflict_or(e, || format!("client `{}`", c.client_id), db_err))?;
                Ok(())
            }

            async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
                let sql = "SELECT * FROM clients WHERE client_id = $1";
                fetch_optional::<ClientRow, _>(self.read_pool(), sql, client_id).await
            }

            async fn list_clients(&self) -> StoreResult<Vec<Client>> {
                let sql = "SELECT * FROM clients ORDER BY created_at, client_id";
                fetch_all::<ClientRow, _>(self.read_pool(), sql).await
            }

            async fn update_client(
                &self,
                client_id: &str,
                now: i64,
                edit: ClientEdit<'_>,
            ) -> StoreResult<Option<Client>> {
                let mut w = self.writing().await?;
                let mut tx = sqlx::Connection::begin(&mut *w).await.map_err(db_err)?;
                let row: ClientRow = sqlx::query_as(SELECT_CLIENT_FOR_UPDATE)
                    .bind(client_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .ok_or_else(|| StoreError::NotFound(format!("client `{client_id}`")))?;
                let mut c = Client::try_from(row)?;
                if !edit(&mut c) {
                    return Ok(None);
                }
                c.client_id = client_id.to_owned();
                let q = sqlx::query(
                    "UPDATE clients SET name = $1, grants = $2, secret_hash = $3, \
                     previous_secret_hash = $4, previous_secret_until = $5, enabled = $6, \
                     owner = $7, requested_scopes = $8, updated_at = $9, settings = $10 \
                     WHERE client_id = $11",
                );
                bind_client(q, &c, settings_json(&c.settings)?, now)
                    .bind(client_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Ok(Some(c))
            }

            async fn list_clients_page(&self, f: &ClientFilter) -> StoreResult<Vec<Client>> {
                list_clients_page(self.read_pool(), f).await
            }

            async fn delete_client(&self, client_id: &str) -> StoreResult<()> {
                delete_client(&mut *self.writing().await?, client_id).await
            }

            async fn list_users_page(
                &self,
                after: Option<&str>,
                limit: u32,
                name: Option<&str>,
            ) -> StoreResult<Vec<User>> {
                list_users_page(self.read_pool(), after, limit, name).await
            }

            async fn update_user(
                &self,
                username: &str,
                update: &UserUpdate,
                now: i64,
            ) -> StoreResult<()> {
                update_user(&mut *self.writing().await?, username, update, now).await
            }

            async fn add_usage(
                &self,
                calls: &[CallUsage],
                tokens: &[TokenUsage],
            ) -> StoreResult<()> {
                add_usage(&mut *self.writing().await?, calls, tokens).await
            }

            async fn usage(
                &self,
                q: &UsageQuery,
            ) -> StoreResult<(Vec<CallUsage>, Vec<TokenUsage>)> {
                usage(self.read_pool(), q).await
            }

            async fn append_audit(&self, r: &AuditRecord) -> StoreResult<()> {
                append_audit(&mut *self.writing().await?, r).await
            }

            async fn audit_log(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
                audit_log(self.read_pool(), q).await
            }

            async fn create_user(&self, u: &User) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO users (username, password_hash, full_name, email, enabled, \
                     created_at, updated_at, roles) VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
                )
                .bind(&u.username)
                .bind(&u.password_hash)
                .bind(&u.full_name)
                .bind(&u.email)
                .bind(u.enabled)
                .bind(u.created_at)
                .bind(roles_to_string(&u.roles))
                .execute(&mut *self.writing().await?)
                .await
                .map_err(|e| conflict_or(e, || format!("user `{}`", u.username), db_err))?;
                Ok(())
            }

            async fn get_user(&self, username: &str) -> StoreResult<Option<User>> {
                let sql = "SELECT * FROM users WHERE username = $1";
                fetch_optional::<UserRow, _>(self.read_pool(), sql, username).await
            }

            async fn set_user_password(
                &self,
                username: &str,
                hash: &str,
                now: i64,
            ) -> StoreResult<()> {
                let sql = "UPDATE users SET password_hash = $1, updated_at = $2 WHERE username = $3";
                let done = sqlx::query(sql)
                    .bind(hash)
                    .bind(now)
                    .bind(username)
                    .execute(&mut *self.writing().await?)
                    .await
                    .map_err(db_err)?;
                found(done.rows_affected(), || format!("user `{username}`"))
            }

            async fn insert_tokens(&self, tokens: Vec<TokenRecord>) -> StoreResult<()> {
                self.writer.insert(tokens).await
            }

            async fn find_token(&self, hash: &Digest) -> StoreResult<Option<TokenLookup>> {
                let row: Option<LookupRow> = sqlx::query_as(
                    "SELECT t.*, c.enabled AS client_enabled, c.settings AS client_settings, \
                     u.enabled AS user_enabled \
                     FROM tokens t JOIN clients c ON c.client_id = t.client_id \
                     LEFT JOIN users u ON u.username = t.username WHERE t.token_hash = $1",
                )
                .bind(&hash[..])
                .fetch_optional(self.read_pool())
                .await
                .map_err(db_err)?;
                row.map(TokenLookup::try_from).transpose()
            }

            async fn rotate_refresh(
                &self,
                old: &Digest,
                now: i64,
                successors: Vec<TokenRecord>,
            ) -> StoreResult<Rotation> {
                let mut w = self.writing().await?;
                let mut tx = sqlx::Connection::begin(&mut *w).await.map_err(db_err)?;
                let used = sqlx::query(
                    "UPDATE tokens SET rotated_at = $1 WHERE token_hash = $2 \
                     AND kind = 'refresh' AND rotated_at IS NULL AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(&old[..])
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                if used.rows_affected() == 0 {
                    return Ok(Rotation::AlreadyUsed);
                }
                insert_tokens(&mut *tx, &successors).await?;
                tx.commit().await.map_err(db_err)?;
                Ok(Rotation::Rotated)
            }

            async fn revoke_token(&self, hash: &Digest, now: i64) -> StoreResult<bool> {
                let sql = "UPDATE tokens SET revoked_at = $1 \
                           WHERE token_hash = $2 AND revoked_at IS NULL";
                let done = sqlx::query(sql)
                    .bind(now)
                    .bind(&hash[..])
                    .execute(&mut *self.writing().await?)
                    .await
                    .map_err(db_err)?;
                Ok(done.rows_affected() > 0)
            }

            async fn revoke_family(&self, family_id: &str, now: i64) -> StoreResult<u64> {
                let sql = "UPDATE tokens SET revoked_at = $1 \
                           WHERE family_id = $2 AND revoked_at IS NULL";
                let done = sqlx::query(sql)
                    .bind(now)
                    .bind(family_id)
                    .execute(&mut *self.writing().await?)
                    .await
                    .map_err(db_err)?;
                Ok(done.rows_affected())
            }

            async fn sweep_expired(&self, before: i64) -> StoreResult<u64> {
                let mut swept = 0;
                for sql in [
                    "DELETE FROM tokens WHERE expires_at < $1",
                    "DELETE FROM revoked_jwts WHERE expires_at < $1",
                    "DELETE FROM auth_codes WHERE expires_at < $1",
                    "DELETE FROM sessions WHERE expires_at < $1",
                ] {
                    let done = sqlx::query(sql)
                        .bind(before)
                        .execute(&mut *self.writing().await?)
                        .await
                        .map_err(db_err)?;
                    swept += done.rows_affected();
                }
                Ok(swept)
            }

            async fn signing_keys(&self) -> StoreResult<Vec<SigningKey>> {
                let sql = "SELECT * FROM signing_keys ORDER BY created_at, kid";
                fetch_all::<SigningKeyRow, _>(self.read_pool(), sql).await
            }

            async fn insert_signing_key(
                &self,
                k: &SigningKey,
                auto_slot: Option<i64>,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO signing_keys (kid, alg, private_der, public_jwk, created_at, \
                     signs_from, retired_at, published_until, auto_slot) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&k.kid)
                .bind(k.alg.as_str())
                .bind(&k.private_der[..])
                .bind(&k.public_jwk)
                .bind(k.created_at)
                .bind(k.signs_from)
                .bind(k.retired_at)
                .bind(k.published_until)
                .bind(auto_slot)
                .execute(&mut *self.writing().await?)
                .await
                .map_err(|e| conflict_or(e, || format!("signing key `{}`", k.kid), db_err))?;
                Ok(())
            }

            async fn retire_signing_key(
                &self,
                kid: &str,
                at: i64,
                published_until: i64,
            ) -> StoreResult<()> {
                let sql = "UPDATE signing_keys SET retired_at = COALESCE(retired_at, $1), published_until = $2 \
                           WHERE kid = $3 AND (published_until IS NULL OR published_until > $2)";
                let done = sqlx::query(sql)
                    .bind(at)
                    .bind(published_until)
                    .bind(kid)
                    .execute(&mut *self.writing().await?)
                    .await
                    .map_err(db_err)?;
                found(done.rows_affected(), || format!("signing key `{kid}` still published"))
            }

            async fn deny_jwt(&self, id: &str, expires_at: i64) -> StoreResult<()> {
                let sql = "INSERT INTO revoked_jwts (id, expires_at) VALUES ($1, $2) \
                           ON CONFLICT (id) DO NOTHING";
                sqlx::query(sql)
                    .bind(id)
                    .bind(expires_at)
                    .execute(&mut *self.writing().await?)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }

            async fn insert_code(&self, c: &AuthCode) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO auth_codes (code_hash, client_id, username, redirect_uri, \
                     redirect_given, code_challenge, scope, nonce, auth_time, family_id, \
                     expires_at, used_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(&c.hash[..])
                .bind(&c.client_id)
                .bind(&c.username)
                .bind(&c.redirect_uri)
                .bind(c.redirect_given)
                .bind(c.code_challenge.as_deref())
                .bind(c.scope.to_string())
                .bind(c.nonce.as_deref())
                .bind(c.auth_time)
                .bind(&c.family_id)
                .bind(c.expires_at)
                .bind(c.used_at)
                .execute(&mut *self.writing().await?)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn use_code(&self, hash: &Digest, now: i64) -> StoreResult<CodeUse> {
                let mut w = self.writing().await?;
                let mut tx = sqlx::Connection::begin(&mut *w).await.map_err(db_err)?;
                let marked = sqlx::query(
                    "UPDATE auth_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL",
                )
                .bind(now)
                .bind(&hash[..])
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                let row: Option<CodeRow> =
                    sqlx::query_as("SELECT * FROM auth_codes WHERE code_hash = $1")
                        .bind(&hash[..])
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Ok(match row.map(AuthCode::try_from).transpose()? {
                    None => CodeUse::Unknown,
                    Some(c) if marked.rows_affected() == 1 => CodeUse::Fresh(c),
                    Some(c) => CodeUse::Replayed(c),
                })
            }

            async fn consent(&self, username: &str, client_id: &str) -> StoreResult<Option<Scope>> {
                let scope: Option<String> = sqlx::query_scalar(
                    "SELECT scope FROM consents WHERE username = $1 AND client_id = $2",
                )
                .bind(username)
                .bind(client_id)
                .fetch_optional(self.read_pool())
                .await
                .map_err(db_err)?;
                scope
                    .map(|s| {
                        s.parse()
                            .map_err(|_| StoreError::Corrupt(format!("consent scope `{s}`")))
                    })
                    .transpose()
            }

            async fn save_consent(
                &self,
                username: &str,
                client_id: &str,
                scope: &Scope,
                now: i64,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO consents (username, client_id, scope, granted_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (username, client_id) \
                     DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
                )
                .bind(username)
                .bind(client_id)
                .bind(scope.to_string())
                .bind(now)
                .execute(&mut *self.writing().await?)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn create_session(&self, hash: &Digest, s: &Session) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO sessions (id_hash, username, auth_time, expires_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (id_hash) DO UPDATE SET expires_at = excluded.expires_at",
                )
                .bind(&hash[..])
                .bind(&s.username)
                .bind(s.auth_time)
                .bind(s.expires_at)
                .execute(&mut *self.writing().await?)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn get_session(&self, hash: &Digest) -> StoreResult<Option<Session>> {
                let row: Option<SessionRow> = sqlx::query_as(
                    "SELECT username, auth_time, expires_at FROM sessions WHERE id_hash = $1",
                )
                .bind(&hash[..])
                .fetch_optional(self.read_pool())
                .await
                .map_err(db_err)?;
                Ok(row.map(Session::from))
            }

            async fn delete_user_sessions(&self, username: &str) -> StoreResult<u64> {
                let done = sqlx::query("DELETE FROM sessions WHERE username = $1")
                    .bind(username)
                    .execute(&mut *self.writing().await?)
                    .await
                    .map_err(db_err)?;
                Ok(done.rows_affected())
            }

            async fn jwt_state(
                &self,
                client_id: &str,
                username: Option<&str>,
                ids: [&str; 2],
            ) -> StoreResult<JwtState> {
                let row: Option<JwtStateRow> = sqlx::query_as(
                    "SELECT c.enabled AS client_enabled, c.settings AS client_settings, \
                     (SELECT u.enabled FROM users u WHERE u.username = $2) AS user_enabled, \
                     EXISTS (SELECT 1 FROM revoked_jwts r WHERE r.id IN ($3, $4)) AS denied \
                     FROM clients c WHERE c.client_id = $1",
                )
                .bind(client_id)
                .bind(username)
                .bind(ids[0])
                .bind(ids[1])
                .fetch_optional(self.read_pool())
                .await
                .map_err(db_err)?;
                JwtState::try_from(row)
            }

            async fn revision(&self) -> StoreResult<i64> {
                sqlx::query_scalar("SELECT n FROM revision WHERE id = 1")
                    .fetch_one(self.read_pool())
                    .await
                    .map_err(db_err)
            }

            async fn close(&self) {
                self.writer.close().await;
                self.close_pools().await;
            }
        }
    };
}

pub(super) use sql_store;

/// A pooled connection to write through, and the process's write turn where
/// the backend has one (SQLite, whose token writer thread takes the same
/// turn); both are given back when this is dropped. Derefs to the
/// connection, so `&mut *w` is an executor and can begin a transaction.
#[derive(Debug)]
pub(super) struct Writing<DB: sqlx::Database> {
    conn: sqlx::pool::PoolConnection<DB>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<DB: sqlx::Database> Writing<DB> {
    pub(super) fn new(
        conn: sqlx::pool::PoolConnection<DB>,
        turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    ) -> Self {
        Self { conn, _turn: turn }
    }
}

impl<DB: sqlx::Database> std::ops::Deref for Writing<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &Self::Target {
        &self.conn
    }
}

impl<DB: sqlx::Database> std::ops::DerefMut for Writing<DB> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.conn
    }
}
