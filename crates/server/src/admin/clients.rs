//! Clients through [`Admin`]: register, list, read, change, delete, and
//! rotate secrets, in the admin API's terms, each change audited.

use serde_json::json;
use tollgate_proto::admin::{
    ClientCredentials, ClientInfo, ClientPatch, ClientRegistration, Page, SecretRotation,
};
use tollgate_proto::{GrantType, Scope};

use super::{check_client, create_client, page, rotate_secret, Admin, AdminError, NewClient};
use crate::config::TokenFormat;
use crate::store::{AuthMethod, Client, ClientFilter, ClientUpdate, StoreError};

impl Admin<'_> {
    pub async fn register_client(
        &self,
        reg: ClientRegistration,
    ) -> Result<ClientCredentials, AdminError> {
        let mut grants: std::collections::BTreeSet<GrantType> =
            reg.grant_types.iter().copied().collect();
        if grants.is_empty() {
            grants.insert(GrantType::ClientCredentials);
        }
        let new = NewClient {
            name: reg.client_name,
            client_id: reg.client_id,
            secret: reg.client_secret,
            scopes: scope(&reg.scope)?,
            grants,
            auth_method: reg
                .auth_method
                .as_deref()
                .map(auth_method)
                .transpose()?
                .unwrap_or_default(),
            token_ttl: reg.token_ttl,
            qps: reg.qps,
            per_day: reg.per_day,
            introspect_any: reg.introspect_any,
            token_format: reg.token_format.as_deref().map(token_format).transpose()?,
            audience: reg.audience,
            redirect_uris: reg.redirect_uris,
            public: reg.public,
            first_party: reg.first_party,
            owner: reg.owner,
            description: reg.description,
            requested_scopes: Scope::default(),
        };
        let (client, secret) = create_client(self.store, self.now, new).await?;
        let info = ClientInfo::from(&client);
        self.record(
            "client.create",
            &client.client_id,
            json!({ "client": info }),
        )
        .await;
        Ok(ClientCredentials {
            client_id: client.client_id,
            client_secret: (!secret.is_empty()).then_some(secret),
            client: info,
        })
    }

    /// A page of clients by id, and the cursor of the next.
    pub async fn list_clients(&self, filter: ClientFilter) -> Result<Page<ClientInfo>, AdminError> {
        let clients = self.store.list_clients_page(&filter).await?;
        Ok(page(
            clients,
            filter.limit,
            |c| c.client_id.clone(),
            |c| ClientInfo::from(&c),
        ))
    }

    pub async fn client(&self, client_id: &str) -> Result<ClientInfo, AdminError> {
        Ok(ClientInfo::from(&self.find_client(client_id).await?))
    }

    /// Applies `patch` if the client it leaves is valid.
    pub async fn update_client(
        &self,
        client_id: &str,
        patch: ClientPatch,
    ) -> Result<ClientInfo, AdminError> {
        let update = client_update(&patch)?;
        let mut client = self.find_client(client_id).await?;
        update.apply(&mut client);
        check_client(&client)?;
        self.store
            .update_client(client_id, &update, self.now)
            .await?;
        let action = match (patch.enabled, patch == enabled_only(patch.enabled)) {
            (Some(true), true) => "client.enable",
            (Some(false), true) => "client.disable",
            _ => "client.update",
        };
        self.record(action, client_id, json!({ "changes": patch }))
            .await;
        self.client(client_id).await
    }

    /// Deletes the client, its tokens, codes and consents.
    pub async fn delete_client(&self, client_id: &str) -> Result<(), AdminError> {
        self.store.delete_client(client_id).await?;
        self.record("client.delete", client_id, json!({})).await;
        Ok(())
    }

    /// A new secret; the old one works for `grace_secs` more.
    pub async fn rotate_client_secret(
        &self,
        client_id: &str,
        rotation: SecretRotation,
    ) -> Result<ClientCredentials, AdminError> {
        let secret = rotate_secret(self.store, client_id, self.now, rotation.grace_secs).await?;
        self.record(
            "client.rotate_secret",
            client_id,
            json!({ "grace_secs": rotation.grace_secs }),
        )
        .await;
        Ok(ClientCredentials {
            client_id: client_id.to_owned(),
            client_secret: Some(secret),
            client: self.client(client_id).await?,
        })
    }

    async fn find_client(&self, client_id: &str) -> Result<Client, AdminError> {
        self.store
            .get_client(client_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("client `{client_id}`")).into())
    }
}

fn enabled_only(enabled: Option<bool>) -> ClientPatch {
    ClientPatch {
        enabled,
        ..ClientPatch::default()
    }
}

/// The store's update for a patch, its strings parsed.
fn client_update(p: &ClientPatch) -> Result<ClientUpdate, AdminError> {
    Ok(ClientUpdate {
        name: p.client_name.clone(),
        scopes: p.scope.as_deref().map(scope).transpose()?,
        grants: p.grant_types.as_ref().map(|g| g.iter().copied().collect()),
        auth_method: p.auth_method.as_deref().map(auth_method).transpose()?,
        token_ttl: p.token_ttl,
        qps: p.qps,
        per_day: p.per_day,
        introspect_any: p.introspect_any,
        enabled: p.enabled,
        token_format: p
            .token_format
            .as_ref()
            .map(|f| f.as_deref().map(token_format).transpose())
            .transpose()?,
        audience: p.audience.clone(),
        redirect_uris: p.redirect_uris.clone(),
        first_party: p.first_party,
        requested_scopes: p.requested_scope.as_deref().map(scope).transpose()?,
        owner: p.owner.clone(),
        description: p.description.clone(),
        ..ClientUpdate::default()
    })
}

fn scope(s: &str) -> Result<Scope, AdminError> {
    s.parse()
        .map_err(|_| AdminError::Invalid(format!("invalid scope `{s}`")))
}

fn auth_method(s: &str) -> Result<AuthMethod, AdminError> {
    AuthMethod::parse(s).ok_or_else(|| {
        AdminError::Invalid(format!("auth_method `{s}`: expected any, basic or post"))
    })
}

fn token_format(s: &str) -> Result<TokenFormat, AdminError> {
    TokenFormat::parse(s)
        .ok_or_else(|| AdminError::Invalid(format!("token_format `{s}`: expected opaque or jwt")))
}
