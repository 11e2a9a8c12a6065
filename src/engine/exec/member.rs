//! `member.sync`: one (group, user) membership made to match the store.

use super::*;

impl Exec<'_> {
    pub(super) async fn remove_member(&self, group_id: &str, user_id: &str) -> Result<(), Stop> {
        let r = self
            .engine
            .client
            .call(&RemoveUserFromGroup {
                zone_id: self.zone(),
                group_id: group_id.to_owned(),
                user_id: user_id.to_owned(),
            })
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if e.is(Code::GroupUserNotExist) || e.is(Code::GroupNotExist) || e.is(Code::UserNotExist) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn member_sync(&self) -> Outcome {
        let store = &self.engine.store;
        let tenant = &self.tenant.name;
        let group_id = &self.op.resource_id;
        let user_id = self.op.related_id.as_deref().unwrap_or_default();
        let wanted = store.is_member(tenant, group_id, user_id).await?;
        let group = store.link(tenant, ResourceKind::Group, group_id).await?;
        let user = store.link(tenant, ResourceKind::User, user_id).await?;
        let (Some(group), Some(user)) = (group, user) else {
            return Ok(if wanted {
                "waiting: the user or group is not in Identity Center yet; creating it queues this membership again"
                    .to_owned()
            } else {
                "nothing to remove: the user or group is not in Identity Center".to_owned()
            });
        };
        if !wanted {
            self.remove_member(&group.cic_id, &user.cic_id).await?;
            return Ok(format!("removed {} from {}", user.cic_id, group.cic_id));
        }
        let r = self
            .engine
            .client
            .call(&AddUserToGroup {
                zone_id: self.zone(),
                group_id: group.cic_id.clone(),
                user_id: user.cic_id.clone(),
            })
            .await;
        match r {
            Ok(_) => Ok(format!("added {} to {}", user.cic_id, group.cic_id)),
            Err(e) if e.is(Code::GroupUserAlreadyExists) => {
                Ok(format!("{} was already in {}", user.cic_id, group.cic_id))
            }
            // The user or group was deleted while this ran (their deletes run under other
            // keys): if the store no longer wants the membership, there is nothing to do. If it
            // still does, the object was removed behind cic-bridge's back: the failure stands
            // (and reconciliation reports the drift).
            Err(e) if e.class() == ErrorClass::NotFound => {
                let still = store.is_member(tenant, group_id, user_id).await?
                    && store.link(tenant, ResourceKind::Group, group_id).await?.is_some()
                    && store.link(tenant, ResourceKind::User, user_id).await?.is_some();
                if still {
                    Err(e.into())
                } else {
                    Ok(format!(
                        "{} or {} was deleted meanwhile; nothing to add",
                        user.cic_id, group.cic_id
                    ))
                }
            }
            Err(e) => Err(e.into()),
        }
    }
}
