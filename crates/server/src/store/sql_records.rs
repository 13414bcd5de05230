//! The statements behind the admin API's store methods (paged lists,
//! deletion, user updates) and its records (usage, the audit log), written
//! once for both SQL backends like `sql`, whose `sql_store!` expands
//! `sql_records!` for its database type and calls these functions.

macro_rules! sql_records {
    ($db:ty) => {
        type Pool = sqlx::Pool<$db>;
        type Conn = <$db as sqlx::Database>::Connection;

        async fn list_clients_page(pool: &Pool, f: &ClientFilter) -> StoreResult<Vec<Client>> {
            let grant = f
                .grant
                .map(|g| format!("% {} %", g.as_str().replace('_', "\\_")));
            let rows: Vec<ClientRow> = sqlx::query_as(
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
            .bind(f.pending)
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            rows.into_iter().map(Client::try_from).collect()
        }

        async fn delete_client(conn: &mut Conn, client_id: &str) -> StoreResult<()> {
            let mut tx = sqlx::Connection::begin(conn).await.map_err(db_err)?;
            sqlx::query("DELETE FROM tokens WHERE client_id = $1")
                .bind(client_id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            let done = sqlx::query("DELETE FROM clients WHERE client_id = $1")
                .bind(client_id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            found(done.rows_affected(), || format!("client `{client_id}`"))?;
            tx.commit().await.map_err(db_err)
        }

        async fn list_users_page(
            pool: &Pool,
            after: Option<&str>,
            limit: u32,
            name: Option<&str>,
        ) -> StoreResult<Vec<User>> {
            let rows: Vec<UserRow> = sqlx::query_as(
                "SELECT * FROM users WHERE username > $1 \
                 AND ($3 IS NULL OR lower(username) LIKE $3 ESCAPE '\\' \
                      OR lower(coalesce(full_name, '')) LIKE $3 ESCAPE '\\') \
                 ORDER BY username LIMIT $2",
            )
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .bind(name.map(contains_pattern))
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            rows.into_iter().map(User::try_from).collect()
        }

        /// One statement: fields not in `u` keep their stored values.
        async fn update_user(
            conn: &mut Conn,
            username: &str,
            u: &UserUpdate,
            now: i64,
        ) -> StoreResult<()> {
            let done = sqlx::query(
                "UPDATE users SET \
                 full_name = CASE WHEN $1 THEN $2 ELSE full_name END, \
                 email = CASE WHEN $3 THEN $4 ELSE email END, \
                 enabled = COALESCE($5, enabled), updated_at = $6, \
                 roles = COALESCE($8, roles) WHERE username = $7",
            )
            .bind(u.full_name.is_some())
            .bind(u.full_name.clone().flatten())
            .bind(u.email.is_some())
            .bind(u.email.clone().flatten())
            .bind(u.enabled)
            .bind(now)
            .bind(username)
            .bind(u.roles.as_deref().map(roles_to_string))
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
            found(done.rows_affected(), || format!("user `{username}`"))
        }

        async fn add_usage(
            conn: &mut Conn,
            calls: &[CallUsage],
            tokens: &[TokenUsage],
        ) -> StoreResult<()> {
            let mut tx = sqlx::Connection::begin(conn).await.map_err(db_err)?;
            for c in calls {
                sqlx::query(
                    "INSERT INTO usage_calls (client_id, day, route, admitted, over_qps, over_day) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (client_id, day, route) \
                     DO UPDATE SET admitted = usage_calls.admitted + excluded.admitted, \
                     over_qps = usage_calls.over_qps + excluded.over_qps, \
                     over_day = usage_calls.over_day + excluded.over_day",
                )
                .bind(&c.client_id)
                .bind(&c.day)
                .bind(&c.route)
                .bind(count_i64(c.admitted))
                .bind(count_i64(c.rejected_per_second))
                .bind(count_i64(c.rejected_per_day))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
            for t in tokens {
                sqlx::query(
                    "INSERT INTO usage_tokens (client_id, day, grant_type, outcome, n) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (client_id, day, grant_type, outcome) \
                     DO UPDATE SET n = usage_tokens.n + excluded.n",
                )
                .bind(&t.client_id)
                .bind(&t.day)
                .bind(&t.grant_type)
                .bind(&t.outcome)
                .bind(count_i64(t.count))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
            tx.commit().await.map_err(db_err)
        }

        async fn usage(
            pool: &Pool,
            q: &UsageQuery,
        ) -> StoreResult<(Vec<CallUsage>, Vec<TokenUsage>)> {
            let calls: Vec<CallUsageRow> = sqlx::query_as(
                "SELECT * FROM usage_calls WHERE day >= $1 AND day <= $2 \
                 AND ($3 IS NULL OR client_id = $3) ORDER BY day, client_id, route",
            )
            .bind(&q.from)
            .bind(&q.to)
            .bind(q.client_id.as_deref())
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            let tokens: Vec<TokenUsageRow> = sqlx::query_as(
                "SELECT * FROM usage_tokens WHERE day >= $1 AND day <= $2 \
                 AND ($3 IS NULL OR client_id = $3) \
                 ORDER BY day, client_id, grant_type, outcome",
            )
            .bind(&q.from)
            .bind(&q.to)
            .bind(q.client_id.as_deref())
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            Ok((
                calls.into_iter().map(CallUsage::from).collect(),
                tokens.into_iter().map(TokenUsage::from).collect(),
            ))
        }

        async fn append_audit(conn: &mut Conn, r: &AuditRecord) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO audit_log (at, actor, action, target, detail) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(r.at)
            .bind(&r.actor)
            .bind(&r.action)
            .bind(&r.target)
            .bind(&r.detail)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
            Ok(())
        }

        async fn audit_log(pool: &Pool, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
            let rows: Vec<AuditRow> = sqlx::query_as(
                "SELECT * FROM audit_log WHERE id < $1 AND ($2 IS NULL OR target = $2) \
                 ORDER BY id DESC LIMIT $3",
            )
            .bind(q.before.unwrap_or(i64::MAX))
            .bind(q.target.as_deref())
            .bind(i64::from(q.limit))
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            Ok(rows.into_iter().map(AuditRecord::from).collect())
        }
    };
}

pub(super) use sql_records;
