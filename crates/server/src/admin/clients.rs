//! Clients through [`Admin`]: register, list, read, change, delete, and
//! rotate secrets, in the admin API's terms, each change audited.
//!
//! Every change is an edit of the client's [`ClientInfo`] inside the
//! store's transaction ([`Admin::edit_client`]): the console and the CLI
//! edit it in code, the admin API with a JSON merge patch
//! ([`Admin::patch_client`]). The audit log records what the edit changed.

use serde_json::{json, Map, Value};
use tollgate_proto::admin::{
    ClientCredentials, ClientInfo, ClientRegistration, Page, SecretRotation,
};
use tollgate_proto::merge_patch;

use super::{check_client, create_client, page, rotate_secret, Admin, AdminError};
use crate::store::{Client, ClientFilter, StoreError};

impl Admin<'_> {
    pub async fn register_client(
        &self,
        reg: ClientRegistration,
    ) -> Result<ClientCredentials, AdminError> {
        let (client, secret) = create_client(self.store, self.now, reg).await?;
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
        let client = self.store.get_client(client_id).await?;
        let client = client.ok_or_else(|| StoreError::NotFound(format!("client `{client_id}`")))?;
        Ok(ClientInfo::from(&client))
    }

    /// Lets `edit` change the client and stores the result if it is valid
    /// and leaves what is fixed at registration as it was: all in one
    /// transaction, so two edits never undo each other.
    pub async fn edit_client(
        &self,
        client_id: &str,
        edit: impl FnOnce(&mut ClientInfo) -> Result<(), AdminError> + Send,
    ) -> Result<ClientInfo, AdminError> {
        let mut edit = Some(edit);
        let mut outcome: Result<Value, AdminError> = Ok(Value::Null);
        let stored = self
            .store
            .update_client(client_id, self.now, &mut |c: &mut Client| {
                let Some(edit) = edit.take() else {
                    return false;
                };
                outcome = apply_edit(c, edit);
                outcome.is_ok()
            })
            .await?;
        let changes = outcome?;
        let info = stored
            .map(|c| ClientInfo::from(&c))
            .ok_or_else(|| StoreError::NotFound(format!("client `{client_id}`")))?;
        let only_enabled =
            changes.as_object().is_some_and(|m| m.len() == 1) && changes.get("enabled").is_some();
        let action = match (only_enabled, info.enabled) {
            (true, true) => "client.enable",
            (true, false) => "client.disable",
            (false, _) => "client.update",
        };
        self.record(action, client_id, json!({ "changes": changes }))
            .await;
        Ok(info)
    }

    /// Applies a JSON merge patch (RFC 7396) of the client's [`ClientInfo`]:
    /// a member replaces the setting, `null` returns it to its default.
    pub async fn patch_client(
        &self,
        client_id: &str,
        patch: Map<String, Value>,
    ) -> Result<ClientInfo, AdminError> {
        if let Some(name) = patch.keys().find(|k| !ClientInfo::is_field(k)) {
            return Err(AdminError::Invalid(format!("unknown field `{name}`")));
        }
        self.edit_client(client_id, move |info| {
            let mut doc = serde_json::to_value(&*info).map_err(invalid)?;
            merge_patch::apply(&mut doc, &Value::Object(patch));
            *info = serde_json::from_value(doc).map_err(invalid)?;
            Ok(())
        })
        .await
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
}

/// Runs `edit` on the client's view and takes back what it may change;
/// the changes, as a merge patch of the view.
fn apply_edit(
    c: &mut Client,
    edit: impl FnOnce(&mut ClientInfo) -> Result<(), AdminError>,
) -> Result<Value, AdminError> {
    let before = ClientInfo::from(&*c);
    let mut after = before.clone();
    edit(&mut after)?;
    let (was, now) = (to_json(&before)?, to_json(&after)?);
    let changed = ClientInfo::READ_ONLY
        .iter()
        .find(|n| was.get(**n) != now.get(**n));
    if let Some(name) = changed {
        let why = if *name == "public" {
            "register a new client instead"
        } else {
            "the server keeps it"
        };
        return Err(AdminError::Invalid(format!(
            "`{name}` cannot be changed: {why}"
        )));
    }
    let changes = merge_patch::diff(&was, &now);
    c.settings = after.settings;
    c.enabled = after.enabled;
    c.owner = after.owner;
    c.requested_scopes = after.requested_scope;
    check_client(c)?;
    Ok(changes)
}

fn to_json(info: &ClientInfo) -> Result<Value, AdminError> {
    serde_json::to_value(info).map_err(invalid)
}

fn invalid(e: serde_json::Error) -> AdminError {
    AdminError::Invalid(e.to_string())
}
