//! Users through [`Admin`]: register, list, read, change, set passwords,
//! in the admin API's terms, each change audited (never the password).

use serde_json::json;
use tollgate_proto::admin::{Page, UserInfo, UserPatch, UserRegistration};

use super::{check_roles, check_text, create_user, page, set_password, Admin, AdminError, NewUser};
use crate::oauth::password::Passwords;
use crate::store::{StoreError, UserUpdate};

impl Admin<'_> {
    pub async fn register_user(
        &self,
        passwords: &Passwords,
        reg: UserRegistration,
    ) -> Result<UserInfo, AdminError> {
        let new = NewUser {
            username: reg.username,
            password: reg.password,
            full_name: reg.full_name,
            email: reg.email,
            roles: reg.roles,
        };
        let user = create_user(self.store, passwords, self.now, new).await?;
        let info = UserInfo::from(&user);
        self.record("user.create", &user.username, json!({ "user": info }))
            .await;
        Ok(info)
    }

    /// A page of users by username (those whose username or full name
    /// contains `name`, any case, when given), and the cursor of the next.
    pub async fn list_users(
        &self,
        after: Option<&str>,
        limit: u32,
        name: Option<&str>,
    ) -> Result<Page<UserInfo>, AdminError> {
        let users = self.store.list_users_page(after, limit, name).await?;
        Ok(page(
            users,
            limit,
            |u| u.username.clone(),
            |u| UserInfo::from(&u),
        ))
    }

    pub async fn user(&self, username: &str) -> Result<UserInfo, AdminError> {
        let user = self.store.get_user(username).await?;
        user.map(|u| UserInfo::from(&u))
            .ok_or_else(|| StoreError::NotFound(format!("user `{username}`")).into())
    }

    pub async fn update_user(
        &self,
        username: &str,
        patch: UserPatch,
    ) -> Result<UserInfo, AdminError> {
        for (what, v) in [("full name", &patch.full_name), ("email", &patch.email)] {
            if let Some(Some(text)) = v {
                check_text(what, text)?;
            }
        }
        let update = UserUpdate {
            full_name: patch.full_name.clone(),
            email: patch.email.clone(),
            enabled: patch.enabled,
            roles: patch.roles.clone().map(check_roles),
        };
        self.store.update_user(username, &update, self.now).await?;
        if patch.enabled == Some(false) {
            // A disabled person is signed out everywhere at once.
            self.store.delete_user_sessions(username).await?;
        }
        self.record("user.update", username, json!({ "changes": patch }))
            .await;
        self.user(username).await
    }

    pub async fn set_user_password(
        &self,
        passwords: &Passwords,
        username: &str,
        password: String,
    ) -> Result<(), AdminError> {
        set_password(self.store, passwords, username, password, self.now).await?;
        self.record("user.set_password", username, json!({})).await;
        Ok(())
    }
}
