//! Resource owners: the record, and its storage. A user's password is kept
//! only as its argon2id PHC string; `Debug` leaves it out.

use async_trait::async_trait;
use tollgate_proto::admin::Role;

use super::rows::{contains_pattern, found, named, parse_roles, roles_to_string};
use super::sql::{Backend, Conn, Stmt};
use super::{StoreError, StoreResult};

/// A resource owner for the password grant, and a person of the console.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub enabled: bool,
    pub created_at: i64,
    /// What the person may do in the console.
    pub roles: Vec<Role>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("username", &self.username)
            .field("full_name", &self.full_name)
            .field("email", &self.email)
            .field("enabled", &self.enabled)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub full_name: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub roles: Option<Vec<Role>>,
}

impl UserUpdate {
    /// Applies the fields that are set.
    pub fn apply(&self, user: &mut User) {
        let u = self.clone();
        user.full_name = u.full_name.unwrap_or(std::mem::take(&mut user.full_name));
        user.email = u.email.unwrap_or(std::mem::take(&mut user.email));
        user.enabled = u.enabled.unwrap_or(user.enabled);
        user.roles = u.roles.unwrap_or(std::mem::take(&mut user.roles));
    }
}

#[async_trait]
pub trait Users {
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    async fn get_user(&self, username: &str) -> StoreResult<Option<User>>;
    /// One page of users after `after`, by username; with `name`, only those
    /// whose username or full name contains it, any case.
    async fn list_users_page(
        &self,
        after: Option<&str>,
        limit: u32,
        name: Option<&str>,
    ) -> StoreResult<Vec<User>>;
    async fn update_user(&self, username: &str, update: &UserUpdate, now: i64) -> StoreResult<()>;
    async fn set_user_password(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> StoreResult<()>;
}

#[async_trait]
impl<B: Backend> Users for B {
    async fn create_user(&self, u: &User) -> StoreResult<()> {
        let stmt = Stmt::new(
            "INSERT INTO users (username, password_hash, full_name, email, enabled, \
             created_at, updated_at, roles) VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
        )
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(u.full_name.as_deref())
        .bind(u.email.as_deref())
        .bind(u.enabled)
        .bind(u.created_at)
        .bind(roles_to_string(&u.roles));
        let done = self.writing().await?.execute(stmt).await;
        done.map_err(named(|| format!("user `{}`", u.username)))?;
        Ok(())
    }

    async fn get_user(&self, username: &str) -> StoreResult<Option<User>> {
        let stmt = Stmt::new("SELECT * FROM users WHERE username = $1").bind(username);
        let row: Option<UserRow> = self.read().await?.fetch_optional(stmt).await?;
        row.map(User::try_from).transpose()
    }

    async fn list_users_page(
        &self,
        after: Option<&str>,
        limit: u32,
        name: Option<&str>,
    ) -> StoreResult<Vec<User>> {
        let stmt = Stmt::new(
            "SELECT * FROM users WHERE username > $1 \
             AND ($3 IS NULL OR lower(username) LIKE $3 ESCAPE '\\' \
                  OR lower(coalesce(full_name, '')) LIKE $3 ESCAPE '\\') \
             ORDER BY username LIMIT $2",
        )
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .bind(name.map(contains_pattern));
        let rows: Vec<UserRow> = self.read().await?.fetch_all(stmt).await?;
        rows.into_iter().map(User::try_from).collect()
    }

    /// One statement: fields not in `u` keep their stored values.
    async fn update_user(&self, username: &str, u: &UserUpdate, now: i64) -> StoreResult<()> {
        let stmt = Stmt::new(
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
        .bind(u.roles.as_deref().map(roles_to_string));
        let done = self.writing().await?.execute(stmt).await?;
        found(done, || format!("user `{username}`"))
    }

    async fn set_user_password(&self, username: &str, hash: &str, now: i64) -> StoreResult<()> {
        let stmt =
            Stmt::new("UPDATE users SET password_hash = $1, updated_at = $2 WHERE username = $3")
                .bind(hash)
                .bind(now)
                .bind(username);
        let done = self.writing().await?.execute(stmt).await?;
        found(done, || format!("user `{username}`"))
    }
}

#[derive(Debug, sqlx::FromRow)]
struct UserRow {
    username: String,
    password_hash: String,
    full_name: Option<String>,
    email: Option<String>,
    enabled: bool,
    created_at: i64,
    roles: String,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(r: UserRow) -> StoreResult<Self> {
        Ok(User {
            roles: parse_roles(&r.roles)?,
            username: r.username,
            password_hash: r.password_hash,
            full_name: r.full_name,
            email: r.email,
            enabled: r.enabled,
            created_at: r.created_at,
        })
    }
}
