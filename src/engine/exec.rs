//! What each operation kind does in Identity Center.
//!
//! Every function is safe to run again from the start: after a crash, a lost answer or a
//! retry, creates look the object up (by name, recognising our marker in its Description)
//! before creating, deletes treat "not found" as done, and membership calls treat "already a
//! member" / "not a member" as done.

use std::sync::Mutex;
use std::time::Duration;

use super::mapping::{self, GroupFields, UserFields};
use super::{Engine, Failure, TenantPolicy, op_error};
use crate::config::{OnConflict, OnUsernameChange};
use crate::scim::schema::ResourceKind;
use crate::store::{CicLink, LinkWrite, Op, OpError, OpKind, TaskRow, Write};
use crate::tencent::model::{
    AddUserToGroup, CreateGroup, CreateUser, DeleteGroup, DeleteRoleAssignment, DeleteUser, GetGroup, GetUser,
    GroupInfo, ListGroupMembers, ListGroups, ListJoinedGroupsForUser, ListRoleAssignments, ListUsers, ObjectType,
    PrincipalType, RemoveUserFromGroup, UpdateGroup, UpdateUser, UpdateUserStatus, UserInfo, UserStatus,
};
use crate::tencent::model::{
    CreateRoleAssignment, DeprovisionStrategy, GetTaskStatus, ListTasks, ProvisionRoleConfiguration,
    RoleAssignmentInfo, TaskState, task_type,
};
use crate::tencent::{CicError, Code, ErrorClass};

type Outcome = Result<String, Failure>;

/// Which resource an operation creates when it runs without a link (for rolling back a
/// refused create).
pub fn created_kind(op: &Op) -> Option<ResourceKind> {
    match op.kind {
        OpKind::UserSync => Some(ResourceKind::User),
        OpKind::GroupSync => Some(ResourceKind::Group),
        _ => None,
    }
}

/// Runs `op`; returns its outcome and the link it established or updated, which the engine
/// saves in the same transaction as the outcome (one synced commit per operation).
pub async fn execute(engine: &Engine, op: &Op) -> (Outcome, Vec<Write>) {
    let Some(tenant) = engine.tenant(&op.tenant).cloned() else {
        let refused = Failure::Refused(OpError {
            code: None,
            message: format!("tenant {} is no longer configured", op.tenant),
            request_id: None,
        });
        return (Err(refused), Vec::new());
    };
    let x = Exec {
        engine,
        op,
        tenant,
        writes: Mutex::new(Vec::new()),
    };
    let outcome = match op.kind {
        OpKind::UserSync => x.user_sync().await,
        OpKind::UserDelete => x.user_delete().await,
        OpKind::GroupSync => x.group_sync().await,
        OpKind::GroupDelete => x.group_delete().await,
        OpKind::MemberSync => x.member_sync().await,
        OpKind::AssignSync => x.assign_sync().await,
        OpKind::Deploy => x.deploy().await,
    };
    let writes = std::mem::take(&mut *x.writes.lock().unwrap_or_else(|p| p.into_inner()));
    (outcome, writes)
}

struct Exec<'a> {
    engine: &'a Engine,
    op: &'a Op,
    tenant: TenantPolicy,
    /// What this attempt established (the latest link, tasks, managed assignments), saved
    /// with its outcome.
    writes: Mutex<Vec<Write>>,
}

impl Exec<'_> {
    fn zone(&self) -> String {
        self.tenant.zone_id.clone()
    }

    fn marker(&self) -> String {
        mapping::marker(&self.tenant.name, &self.op.resource_id)
    }

    async fn save_link(
        &self,
        kind: ResourceKind,
        cic_id: &str,
        cic_name: &str,
        synced: serde_json::Value,
    ) -> Result<(), Failure> {
        let link = CicLink {
            cic_id: cic_id.to_owned(),
            cic_name: cic_name.to_owned(),
            synced,
        };
        // Saved with the attempt's outcome, in the same commit. Deferring it is safe: an
        // attempt that dies before that commit is repeated, and its creates find their object
        // again by the marker.
        let mut writes = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        writes.retain(|w| !matches!(w, Write::Link(_)));
        writes.push(Write::Link(LinkWrite {
            tenant: self.tenant.name.clone(),
            kind,
            scim_id: self.op.resource_id.clone(),
            link,
        }));
        Ok(())
    }

    /// Forgets the resource's link, with the attempt's outcome like every link write: a
    /// worker whose lease expired must not delete a link the operation's new owner saved.
    fn unlink(&self, kind: ResourceKind) {
        let mut writes = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        writes.retain(|w| !matches!(w, Write::Link(_)));
        writes.push(Write::Unlink {
            tenant: self.tenant.name.clone(),
            kind,
            scim_id: self.op.resource_id.clone(),
        });
    }

    // ---- users ---------------------------------------------------------------------------

    async fn user_sync(&self) -> Outcome {
        let store = &self.engine.store;
        let Some(row) = store
            .get(ResourceKind::User, &self.tenant.name, &self.op.resource_id)
            .await?
        else {
            return Ok("the user was deleted; nothing to sync".to_owned());
        };
        let desired = mapping::user_fields(&row.doc, &self.tenant.name, &self.op.resource_id);
        match store
            .link(&self.tenant.name, ResourceKind::User, &self.op.resource_id)
            .await?
        {
            None => self.user_create(desired).await,
            Some(link) => self.user_update(link, desired).await,
        }
    }

    async fn user_create(&self, desired: UserFields) -> Outcome {
        if let Some(problem) = mapping::user_name_problem(&desired.user_name) {
            return Err(Failure::Refused(OpError {
                code: Some(Code::UsernameFormatError.as_str().to_owned()),
                message: problem,
                request_id: None,
            }));
        }
        // A previous attempt may have created the user and lost the answer (or crashed).
        if self.op.attempts > 1 {
            if let Some(found) = self.find_own_user(&desired.user_name).await? {
                return self
                    .adopt_user(found, desired, "found the user an earlier attempt created")
                    .await;
            }
        }
        let request = CreateUser {
            zone_id: self.zone(),
            user_name: desired.user_name.clone(),
            first_name: Some(desired.first_name.clone()).filter(|s| !s.is_empty()),
            last_name: Some(desired.last_name.clone()).filter(|s| !s.is_empty()),
            display_name: Some(desired.display_name.clone()).filter(|s| !s.is_empty()),
            description: Some(desired.description.clone()),
            email: Some(desired.email.clone()).filter(|s| !s.is_empty()),
            user_status: Some(if desired.enabled {
                UserStatus::Enabled
            } else {
                UserStatus::Disabled
            }),
            user_type: Some(ObjectType::Manual),
            need_reset_password: None,
        };
        match self.engine.client.call(&request).await {
            Ok(answer) => {
                let info = answer.user_info;
                self.save_link(
                    ResourceKind::User,
                    &info.user_id,
                    &info.user_name,
                    serde_json::to_value(&desired).unwrap_or_default(),
                )
                .await?;
                Ok(format!("created {}", info.user_id))
            }
            Err(e) if e.class() == ErrorClass::Conflict => self.user_conflict(e, desired).await,
            Err(e) if e.is(Code::UsernameFormatError) => Err(Failure::Refused(op_error(&e))),
            Err(e) => Err(e.into()),
        }
    }

    /// `UsernameAlreadyExists` / `EmailAlreadyExists`: ours (after a lost answer) is linked;
    /// someone else's follows `on_conflict`. Never a retry loop.
    async fn user_conflict(&self, e: CicError, desired: UserFields) -> Outcome {
        let found = self.find_user(&desired.user_name).await?;
        match found {
            Some(u) if u.description.contains(&self.marker()) => {
                self.adopt_user(u, desired, "found the user an earlier attempt created")
                    .await
            }
            Some(u) if self.tenant.on_conflict == OnConflict::Adopt => {
                self.adopt_user(
                    u,
                    desired,
                    "adopted the existing Identity Center user (on_conflict = adopt)",
                )
                .await
            }
            _ => {
                let mut error = op_error(&e);
                error.message = if e.is(Code::EmailAlreadyExists) && found.is_none() {
                    format!(
                        "another Identity Center user in zone {} already has the email {:?}: {}",
                        self.tenant.zone_id, desired.email, error.message
                    )
                } else {
                    format!(
                        "Identity Center zone {} already has a user named {:?} that cic-bridge did not create (on_conflict = reject): {}",
                        self.tenant.zone_id, desired.user_name, error.message
                    )
                };
                Err(Failure::Refused(error))
            }
        }
    }

    /// Links an existing Identity Center user and brings it to the desired state.
    async fn adopt_user(&self, found: UserInfo, desired: UserFields, how: &str) -> Outcome {
        let current = user_fields_of(&found);
        let link = CicLink {
            cic_id: found.user_id.clone(),
            cic_name: found.user_name.clone(),
            synced: serde_json::to_value(&current).unwrap_or_default(),
        };
        // Save the link first: if the update below fails, the retry updates a linked user.
        self.save_link(ResourceKind::User, &link.cic_id, &link.cic_name, link.synced.clone())
            .await?;
        let result = self.user_update(link, desired).await?;
        Ok(format!("{how} ({}); {result}", found.user_id))
    }

    /// ListUsers' Filter is free text over name, email, id and description; the exact
    /// comparison happens here (case-insensitively: the reference leaves Identity Center's
    /// rule open, and a case-only twin is the same person for an IdP).
    /// The user an earlier attempt of this operation created, known by cic-bridge's marker in
    /// its description: under the current user name, or else by the marker itself (ListUsers'
    /// `Filter` is free text over names, emails, ids and descriptions), since the SCIM user
    /// may have been renamed after the attempt whose answer was lost.
    async fn find_own_user(&self, user_name: &str) -> Result<Option<UserInfo>, Failure> {
        let marker = self.marker();
        if let Some(found) = self.find_user(user_name).await? {
            if found.description.contains(&marker) {
                return Ok(Some(found));
            }
        }
        let users = self
            .engine
            .client
            .list_all(&ListUsers {
                zone_id: self.zone(),
                filter: Some(self.op.resource_id.clone()),
                max_results: Some(100),
                ..Default::default()
            })
            .await?;
        Ok(users.into_iter().find(|u| u.description.contains(&marker)))
    }

    async fn find_user(&self, user_name: &str) -> Result<Option<UserInfo>, Failure> {
        let users = self
            .engine
            .client
            .list_all(&ListUsers {
                zone_id: self.zone(),
                filter: Some(user_name.to_owned()),
                max_results: Some(100),
                ..Default::default()
            })
            .await?;
        Ok(users.into_iter().find(|u| u.user_name.eq_ignore_ascii_case(user_name)))
    }

    async fn user_update(&self, mut link: CicLink, mut desired: UserFields) -> Outcome {
        // A re-run may follow an attempt whose call took effect although its answer was lost
        // (or a crash before the outcome was recorded): what the link says was synced may be
        // stale. Comparing with it, a change reverted meanwhile in SCIM looked "already in sync"
        // while Identity Center kept the lost call's value (the soak found a user left enabled
        // that way). A re-run reads the user back first.
        if self.op.attempts > 1 {
            let r = self
                .engine
                .client
                .call(&GetUser {
                    zone_id: self.zone(),
                    user_id: link.cic_id.clone(),
                })
                .await;
            match r {
                Ok(answer) => {
                    let found = serde_json::to_value(user_fields_of(&answer.user_info)).unwrap_or_default();
                    if found != link.synced || answer.user_info.user_name != link.cic_name {
                        link.cic_name = answer.user_info.user_name.clone();
                        link.synced = found;
                        // Recorded even when nothing is left to do: the next operation
                        // compares with it (the soak found a lost disable, found done by its
                        // retry, that left the link saying enabled, and the next enable did
                        // nothing).
                        self.save_link(ResourceKind::User, &link.cic_id, &link.cic_name, link.synced.clone())
                            .await?;
                    }
                }
                Err(e) if e.is(Code::UserNotExist) => return self.relink_user(desired).await,
                Err(e) => return Err(e.into()),
            }
        }
        let synced: UserFields = serde_json::from_value(link.synced.clone()).unwrap_or_default();
        let mut notes = Vec::new();
        if desired.user_name != link.cic_name {
            match self.tenant.on_username_change {
                OnUsernameChange::Recreate => return self.user_recreate(link, desired).await,
                // `reject` is enforced by the SCIM handlers before anything is stored; a rename
                // that got here anyway (the policy changed since) is kept like `keep`.
                OnUsernameChange::Keep | OnUsernameChange::Reject => {
                    notes.push(format!(
                        "userName is now {:?}; Identity Center keeps {:?} (user names are immutable; on_username_change = keep)",
                        desired.user_name, link.cic_name
                    ));
                    desired.user_name = link.cic_name.clone();
                }
            }
        }
        let changed = |a: &str, b: &str| (a != b).then(|| a.to_owned());
        let update = UpdateUser {
            zone_id: self.zone(),
            user_id: link.cic_id.clone(),
            new_first_name: changed(&desired.first_name, &synced.first_name),
            new_last_name: changed(&desired.last_name, &synced.last_name),
            new_display_name: changed(&desired.display_name, &synced.display_name),
            new_description: changed(&desired.description, &synced.description),
            new_email: changed(&desired.email, &synced.email),
            need_reset_password: None,
        };
        let fields_changed = update.new_first_name.is_some()
            || update.new_last_name.is_some()
            || update.new_display_name.is_some()
            || update.new_description.is_some()
            || update.new_email.is_some();
        let mut after = synced.clone();
        after.user_name = link.cic_name.clone();
        if fields_changed {
            match self.engine.client.call(&update).await {
                Ok(_) => {}
                Err(e) if e.is(Code::UserNotExist) => return self.relink_user(desired).await,
                Err(e) if e.is(Code::EmailAlreadyExists) => {
                    let mut error = op_error(&e);
                    error.message = format!(
                        "cannot change the email to {:?}: another Identity Center user has it: {}",
                        desired.email, error.message
                    );
                    return Err(Failure::Cic(CicError::Api {
                        action: "UpdateUser",
                        error: crate::tencent::ApiError {
                            code: error.code.unwrap_or_default(),
                            message: error.message,
                            request_id: error.request_id.unwrap_or_default(),
                        },
                    }));
                }
                Err(e) => return Err(e.into()),
            }
            after.first_name = desired.first_name.clone();
            after.last_name = desired.last_name.clone();
            after.display_name = desired.display_name.clone();
            after.description = desired.description.clone();
            after.email = desired.email.clone();
            notes.push("updated attributes".to_owned());
            // Record progress now: if the status change below fails, the retry does not
            // repeat the update.
            self.save_link(
                ResourceKind::User,
                &link.cic_id,
                &link.cic_name,
                serde_json::to_value(&after).unwrap_or_default(),
            )
            .await?;
        }
        if desired.enabled != synced.enabled {
            if !desired.enabled {
                self.engine.check_fuse(self.op, ResourceKind::User).await?;
            }
            let status = if desired.enabled {
                UserStatus::Enabled
            } else {
                UserStatus::Disabled
            };
            match self
                .engine
                .client
                .call(&UpdateUserStatus {
                    zone_id: self.zone(),
                    user_id: link.cic_id.clone(),
                    new_user_status: status,
                })
                .await
            {
                Ok(_) => {}
                Err(e) if e.is(Code::UserNotExist) => return self.relink_user(desired).await,
                Err(e) => return Err(e.into()),
            }
            after.enabled = desired.enabled;
            notes.push(if desired.enabled {
                "enabled".to_owned()
            } else {
                "disabled".to_owned()
            });
            self.save_link(
                ResourceKind::User,
                &link.cic_id,
                &link.cic_name,
                serde_json::to_value(&after).unwrap_or_default(),
            )
            .await?;
        }
        if notes.is_empty() {
            notes.push("already in sync".to_owned());
        }
        Ok(format!("{}: {}", link.cic_id, notes.join("; ")))
    }

    /// The linked user is gone from Identity Center (deleted by hand): forget the link and
    /// create it again, with its memberships.
    async fn relink_user(&self, desired: UserFields) -> Outcome {
        self.unlink(ResourceKind::User);
        let result = Box::pin(self.user_create(desired)).await?;
        Ok(format!("the linked Identity Center user no longer existed; {result}"))
    }

    /// `on_username_change = recreate`: the old user goes (memberships first), a new one
    /// comes under the new name, and saving its link queues its memberships again.
    async fn user_recreate(&self, link: CicLink, desired: UserFields) -> Outcome {
        self.delete_cic_user(&link.cic_id).await?;
        self.unlink(ResourceKind::User);
        let result = Box::pin(self.user_create(desired)).await?;
        Ok(format!(
            "userName changed from {:?}: deleted {} and recreated (on_username_change = recreate); {result}",
            link.cic_name, link.cic_id
        ))
    }

    async fn user_delete(&self) -> Outcome {
        let store = &self.engine.store;
        let cic_id = match store
            .link(&self.tenant.name, ResourceKind::User, &self.op.resource_id)
            .await?
        {
            Some(link) => link.cic_id,
            None => {
                // A create may have happened before a crash without its link being saved.
                let name = self.op.payload.get("name").and_then(|v| v.as_str()).unwrap_or_default();
                match self.find_own_user(name).await? {
                    Some(u) => u.user_id,
                    None => return Ok("the user never reached Identity Center; nothing to delete".to_owned()),
                }
            }
        };
        self.engine.check_fuse(self.op, ResourceKind::User).await?;
        let removed = self.delete_cic_user(&cic_id).await?;
        self.unlink(ResourceKind::User);
        Ok(format!("deleted {cic_id} after removing it from {removed} groups"))
    }

    /// The documented delete sequence: memberships, then user-level role assignments, then
    /// DeleteUser. Returns the number of memberships removed.
    async fn delete_cic_user(&self, cic_id: &str) -> Result<usize, Failure> {
        let client = &self.engine.client;
        let joined = match client
            .list_all(&ListJoinedGroupsForUser {
                zone_id: self.zone(),
                user_id: cic_id.to_owned(),
                max_results: Some(100),
                ..Default::default()
            })
            .await
        {
            Ok(j) => j,
            Err(e) if e.is(Code::UserNotExist) => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        for g in &joined {
            self.remove_member(&g.group_id, cic_id).await?;
        }
        match client
            .call(&DeleteUser {
                zone_id: self.zone(),
                user_id: cic_id.to_owned(),
            })
            .await
        {
            Ok(_) => Ok(joined.len()),
            Err(e) if e.is(Code::UserNotExist) => Ok(joined.len()),
            Err(e) if e.is(Code::RoleConfigurationAuthorizationExist) => {
                Err(self.delete_assignments(PrincipalType::User, cic_id, e).await)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the principal's role assignments (asynchronous tasks) after `blocked` (the
    /// delete they block) and returns what the operation waits for; the caller's delete runs
    /// again afterwards. An assignment whose DeleteRoleAssignment is already in flight (an
    /// earlier attempt's, or the group's assignment sync's) is waited for, not deleted again:
    /// a second delete while the first runs ends `Failed` in Identity Center's task list.
    async fn delete_assignments(
        &self,
        principal_type: PrincipalType,
        principal_id: &str,
        blocked: CicError,
    ) -> Failure {
        let created = super::parse_ts(&self.op.created_at).unwrap_or_else(|| self.engine.now());
        let age = (self.engine.now() - created).whole_seconds();
        match self.delete_assignments_once(principal_type, principal_id).await {
            // Waiting is not an attempt; past the operation's age limit the delete fails as
            // any retry would (a task that never ends must not keep it waiting forever).
            Ok(Some(wait)) if age < i64::try_from(self.engine.config.max_age_secs).unwrap_or(i64::MAX) => wait,
            Ok(Some(_)) => Failure::Cic(blocked),
            // Nothing listed (ListRoleAssignments can lag): retry the delete with backoff.
            Ok(None) => Failure::Cic(blocked),
            Err(f) => f,
        }
    }

    async fn delete_assignments_once(
        &self,
        principal_type: PrincipalType,
        principal_id: &str,
    ) -> Result<Option<Failure>, Failure> {
        let assignments = self
            .engine
            .client
            .list_all(&ListRoleAssignments {
                zone_id: self.zone(),
                principal_type: Some(principal_type),
                principal_id: Some(principal_id.to_owned()),
                max_results: Some(100),
                ..Default::default()
            })
            .await?;
        if assignments.is_empty() {
            return Ok(None);
        }
        let in_flight = self
            .engine
            .client
            .list_all(&ListTasks {
                zone_id: self.zone(),
                principal_id: Some(principal_id.to_owned()),
                status: Some(TaskState::InProgress),
                task_type: Some(task_type::DELETE_ROLE_ASSIGNMENT.to_owned()),
                max_results: Some(100),
                ..Default::default()
            })
            .await?;
        let mut waiting = None;
        let mut started = 0;
        for a in assignments {
            if let Some(t) = in_flight.iter().find(|t| {
                t.task_type == task_type::DELETE_ROLE_ASSIGNMENT
                    && t.role_configuration_id == a.role_configuration_id
                    && t.target_uin == a.target_uin
            }) {
                waiting.get_or_insert_with(|| t.task_id.clone());
                continue;
            }
            let r = self
                .engine
                .client
                .call(&DeleteRoleAssignment {
                    zone_id: self.zone(),
                    role_configuration_id: a.role_configuration_id.clone(),
                    target_type: a.target_type,
                    target_uin: a.target_uin,
                    principal_type,
                    principal_id: principal_id.to_owned(),
                    deprovision_strategy: None,
                })
                .await;
            match r {
                Ok(_) => started += 1,
                Err(e) if e.class() == ErrorClass::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(match (started, waiting) {
            (0, None) => None,
            (0, Some(task)) => Some(Failure::OnTask(
                Duration::from_secs(1),
                format!("waiting for task {task} (DeleteRoleAssignment already running)"),
            )),
            (n, _) => Some(Failure::OnTask(poll_delay(0), format!("started {n} assignment tasks"))),
        })
    }

    // ---- groups --------------------------------------------------------------------------

    async fn group_sync(&self) -> Outcome {
        let store = &self.engine.store;
        let Some(row) = store
            .get(ResourceKind::Group, &self.tenant.name, &self.op.resource_id)
            .await?
        else {
            return Ok("the group was deleted; nothing to sync".to_owned());
        };
        let display = row.doc.get("displayName").and_then(|v| v.as_str()).unwrap_or_default();
        let desired = mapping::group_fields(display, &self.tenant.name, &self.op.resource_id);
        match store
            .link(&self.tenant.name, ResourceKind::Group, &self.op.resource_id)
            .await?
        {
            None => self.group_create(desired).await,
            Some(link) => self.group_update(link, desired).await,
        }
    }

    async fn find_group(&self, name: &str) -> Result<Option<GroupInfo>, Failure> {
        let groups = self
            .engine
            .client
            .list_all(&ListGroups {
                zone_id: self.zone(),
                filter: Some(format!("GroupName eq {name}")),
                max_results: Some(100),
                ..Default::default()
            })
            .await?;
        Ok(groups.into_iter().find(|g| g.group_name.eq_ignore_ascii_case(name)))
    }

    /// The group an earlier attempt of this operation created, known by cic-bridge's marker in
    /// its description: under the current name, or else among all the zone's groups, since the
    /// SCIM group may have been renamed after the attempt whose answer was lost (found by the
    /// soak: the retry created a second group under the new name). A zone holds at most a few
    /// hundred groups, and this runs only on a retry.
    async fn find_own_group(&self, name: &str) -> Result<Option<GroupInfo>, Failure> {
        let marker = self.marker();
        if let Some(found) = self.find_group(name).await? {
            if found.description.contains(&marker) {
                return Ok(Some(found));
            }
        }
        let groups = self
            .engine
            .client
            .list_all(&ListGroups {
                zone_id: self.zone(),
                max_results: Some(100),
                ..Default::default()
            })
            .await?;
        Ok(groups.into_iter().find(|g| g.description.contains(&marker)))
    }

    async fn group_create(&self, desired: GroupFields) -> Outcome {
        if self.op.attempts > 1 {
            if let Some(found) = self.find_own_group(&desired.group_name).await? {
                return self
                    .adopt_group(found, desired, "found the group an earlier attempt created")
                    .await;
            }
        }
        let r = self
            .engine
            .client
            .call(&CreateGroup {
                zone_id: self.zone(),
                group_name: desired.group_name.clone(),
                description: Some(desired.description.clone()),
                group_type: Some(ObjectType::Manual),
            })
            .await;
        match r {
            Ok(answer) => {
                let Some(info) = answer.group_info else {
                    // The answer may omit GroupInfo (reference: "may be absent"): find it.
                    return match self.find_group(&desired.group_name).await? {
                        Some(found) => self.adopt_group(found, desired, "created").await,
                        None => Err(Failure::Wait(
                            Duration::from_secs(1),
                            "created group not listed yet".to_owned(),
                        )),
                    };
                };
                self.save_link(
                    ResourceKind::Group,
                    &info.group_id,
                    &info.group_name,
                    serde_json::to_value(&desired).unwrap_or_default(),
                )
                .await?;
                Ok(format!("created {} as {:?}", info.group_id, info.group_name))
            }
            Err(e) if e.is(Code::GroupNameAlreadyExists) => {
                match self.find_group(&desired.group_name).await? {
                    Some(g) if g.description.contains(&self.marker()) => {
                        self.adopt_group(g, desired, "found the group an earlier attempt created")
                            .await
                    }
                    Some(g) if self.tenant.on_conflict == OnConflict::Adopt => {
                        self.adopt_group(
                            g,
                            desired,
                            "adopted the existing Identity Center group (on_conflict = adopt)",
                        )
                        .await
                    }
                    _ => {
                        let mut error = op_error(&e);
                        error.message = format!(
                            "Identity Center zone {} already has a group named {:?} that cic-bridge did not create (on_conflict = reject): {}",
                            self.tenant.zone_id, desired.group_name, error.message
                        );
                        Err(Failure::Refused(error))
                    }
                }
            }
            Err(e) if e.is(Code::GroupNameFormatError) => Err(Failure::Refused(op_error(&e))),
            Err(e) => Err(e.into()),
        }
    }

    async fn adopt_group(&self, found: GroupInfo, desired: GroupFields, how: &str) -> Outcome {
        let current = GroupFields {
            group_name: found.group_name.clone(),
            description: found.description.clone(),
        };
        let link = CicLink {
            cic_id: found.group_id.clone(),
            cic_name: found.group_name.clone(),
            synced: serde_json::to_value(&current).unwrap_or_default(),
        };
        self.save_link(ResourceKind::Group, &link.cic_id, &link.cic_name, link.synced.clone())
            .await?;
        let result = self.group_update(link, desired).await?;
        Ok(format!("{how} ({}); {result}", found.group_id))
    }

    async fn group_update(&self, mut link: CicLink, desired: GroupFields) -> Outcome {
        // As for users (see `user_update`): a re-run reads the group back, so that a rename
        // whose answer was lost and that SCIM reverted meanwhile is not taken as in sync.
        if self.op.attempts > 1 {
            let r = self
                .engine
                .client
                .call(&GetGroup {
                    zone_id: self.zone(),
                    group_id: link.cic_id.clone(),
                })
                .await;
            match r {
                Ok(answer) => {
                    if let Some(info) = answer.group_info {
                        let mut synced: GroupFields = serde_json::from_value(link.synced.clone()).unwrap_or_default();
                        synced.group_name = info.group_name.clone();
                        synced.description = info.description.clone();
                        let found = serde_json::to_value(&synced).unwrap_or_default();
                        if found != link.synced || info.group_name != link.cic_name {
                            link.cic_name = info.group_name;
                            link.synced = found;
                            // Recorded even when nothing is left to do (see `user_update`).
                            self.save_link(ResourceKind::Group, &link.cic_id, &link.cic_name, link.synced.clone())
                                .await?;
                        }
                    }
                }
                Err(e) if e.is(Code::GroupNotExist) => {
                    self.unlink(ResourceKind::Group);
                    let result = Box::pin(self.group_create(desired)).await?;
                    return Ok(format!("the linked Identity Center group no longer existed; {result}"));
                }
                Err(e) => return Err(e.into()),
            }
        }
        let synced: GroupFields = serde_json::from_value(link.synced.clone()).unwrap_or_default();
        let new_name = (desired.group_name != link.cic_name).then(|| desired.group_name.clone());
        let new_description = (desired.description != synced.description).then(|| desired.description.clone());
        if new_name.is_none() && new_description.is_none() {
            return Ok(format!("{}: already in sync", link.cic_id));
        }
        let r = self
            .engine
            .client
            .call(&UpdateGroup {
                zone_id: self.zone(),
                group_id: link.cic_id.clone(),
                new_group_name: new_name.clone(),
                new_description,
            })
            .await;
        match r {
            Ok(_) => {}
            Err(e) if e.is(Code::GroupNotExist) => {
                self.unlink(ResourceKind::Group);
                let result = Box::pin(self.group_create(desired)).await?;
                return Ok(format!("the linked Identity Center group no longer existed; {result}"));
            }
            Err(e) => return Err(e.into()),
        }
        self.save_link(
            ResourceKind::Group,
            &link.cic_id,
            &desired.group_name,
            serde_json::to_value(&desired).unwrap_or_default(),
        )
        .await?;
        Ok(match new_name {
            Some(n) => format!("{}: renamed from {:?} to {n:?}", link.cic_id, link.cic_name),
            None => format!("{}: description updated", link.cic_id),
        })
    }

    async fn group_delete(&self) -> Outcome {
        let store = &self.engine.store;
        let cic_id = match store
            .link(&self.tenant.name, ResourceKind::Group, &self.op.resource_id)
            .await?
        {
            Some(link) => link.cic_id,
            None => {
                let name = self.op.payload.get("name").and_then(|v| v.as_str()).unwrap_or_default();
                match self.find_own_group(&mapping::group_name(name)).await? {
                    Some(g) => g.group_id,
                    None => return Ok("the group never reached Identity Center; nothing to delete".to_owned()),
                }
            }
        };
        // The group's assignment sync (queued or running) removes the assignments the rules
        // made and follows its tasks to their end: let it finish rather than delete them a
        // second time while its tasks run.
        if store
            .op_unfinished(&self.tenant.name, OpKind::AssignSync, &self.op.resource_id)
            .await?
        {
            return Err(Failure::Wait(
                Duration::from_secs(1),
                "waiting for the group's assignment sync to finish".to_owned(),
            ));
        }
        self.engine.check_fuse(self.op, ResourceKind::Group).await?;
        let client = &self.engine.client;
        let members = match client
            .list_all(&ListGroupMembers {
                zone_id: self.zone(),
                group_id: cic_id.clone(),
                max_results: Some(100),
                ..Default::default()
            })
            .await
        {
            Ok(m) => m,
            Err(e) if e.is(Code::GroupNotExist) => {
                self.forget_group().await?;
                return Ok(format!("{cic_id} was already gone"));
            }
            Err(e) => return Err(e.into()),
        };
        for m in &members {
            self.remove_member(&cic_id, &m.user_id).await?;
        }
        // A task still running on the group (an assignment created by an attempt whose answer
        // was lost, so no sync follows it) would end Failed, "principal was deleted", in the
        // customer's task list: wait for it to end first.
        let running = client
            .list_all(&ListTasks {
                zone_id: self.zone(),
                principal_id: Some(cic_id.clone()),
                status: Some(TaskState::InProgress),
                max_results: Some(100),
                ..Default::default()
            })
            .await?;
        if let Some(t) = running.first() {
            return Err(Failure::OnTask(
                Duration::from_secs(1),
                format!("waiting for task {} on the group before deleting it", t.task_id),
            ));
        }
        match client
            .call(&DeleteGroup {
                zone_id: self.zone(),
                group_id: cic_id.clone(),
            })
            .await
        {
            Ok(_) => {}
            Err(e) if e.is(Code::GroupNotExist) => {}
            Err(e) if e.is(Code::RoleConfigurationAuthorizationExist) => {
                return Err(self.delete_assignments(PrincipalType::Group, &cic_id, e).await);
            }
            Err(e) => return Err(e.into()),
        }
        self.forget_group().await?;
        Ok(format!("deleted {cic_id} after removing {} members", members.len()))
    }

    /// The group is gone from Identity Center: its link goes, and so do the assignments
    /// recorded for it (its delete removed them), with the outcome.
    async fn forget_group(&self) -> Result<(), Failure> {
        let store = &self.engine.store;
        let managed = store
            .managed_assignments(&self.tenant.name, &self.op.resource_id)
            .await?;
        for (rc, uin) in managed {
            self.push(Write::Assignment {
                tenant: self.tenant.name.clone(),
                scim_group: self.op.resource_id.clone(),
                role_configuration_id: rc,
                target_uin: uin,
                present: false,
            });
        }
        self.unlink(ResourceKind::Group);
        Ok(())
    }

    // ---- memberships ---------------------------------------------------------------------

    async fn remove_member(&self, group_id: &str, user_id: &str) -> Result<(), Failure> {
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
            Err(e)
                if e.is(Code::GroupUserNotExist)
                    || e.is(Code::GroupNotExist)
                    || e.is(Code::UserNotExist) =>
            {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn member_sync(&self) -> Outcome {
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

// ---- role assignments and deployments ---------------------------------------------------------

/// Task status strings as Identity Center spells them.
const IN_PROGRESS: &str = "InProgress";
const SUCCESS: &str = "Success";
const FAILED: &str = "Failed";
/// A task that ends Failed with an empty FailureReason (an account that just joined the
/// organization, reference 0.2) is started again this many times before the operation fails.
const EMPTY_FAILURE_RETRIES: usize = 3;
/// An operation polling its tasks gives up after this many polls (about half an hour with
/// the capped backoff below).
const MAX_POLLS: i64 = 200;

fn state_str(s: TaskState) -> &'static str {
    match s {
        TaskState::Success => SUCCESS,
        TaskState::Failed => FAILED,
        // An empty or unknown status counts as still pending, as the enterprise Terraform
        // provider treats it.
        TaskState::InProgress | TaskState::Unknown => IN_PROGRESS,
    }
}

/// What Identity Center holds for a user, in the terms a link records as synced.
fn user_fields_of(u: &UserInfo) -> UserFields {
    UserFields {
        user_name: u.user_name.clone(),
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
        display_name: u.display_name.clone(),
        email: u.email.clone(),
        description: u.description.clone(),
        enabled: u.user_status == UserStatus::Enabled,
    }
}

/// Poll delay after `polls` polls: 0.3 s, then 1.5 times longer each time, capped at 10 s.
/// Tasks usually end within seconds, so a gentle growth notices the end soon after it
/// happens, while a long task costs a poll every 10 s of the 220/s GetTaskStatus budget.
fn poll_delay(polls: i64) -> Duration {
    let exp = i32::try_from(polls.clamp(0, 10)).unwrap_or(10);
    Duration::from_millis(300)
        .mul_f64(1.5f64.powi(exp))
        .min(Duration::from_secs(10))
}

impl Exec<'_> {
    fn push(&self, w: Write) {
        self.writes.lock().unwrap_or_else(|p| p.into_inner()).push(w);
    }

    fn task_row(&self, task: &TaskInfoLike, scim_group: Option<&str>) -> TaskRow {
        let now = crate::store::format_time(self.engine.now());
        TaskRow {
            tenant: self.tenant.name.clone(),
            task_id: task.task_id.clone(),
            task_type: task.task_type.clone(),
            scim_group: scim_group.map(str::to_owned),
            role_configuration_id: task.role_configuration_id.clone(),
            target_uin: task.target_uin,
            status: task.status.to_owned(),
            failure_reason: task.failure_reason.clone(),
            polls: 0,
            created_at: now.clone(),
            updated_at: now,
        }
    }

    /// Polls the given in-progress tasks once. Returns the updated rows (also queued as writes).
    /// Nothing is recorded unless every poll answered: a status recorded without the
    /// assignment write that its caller makes for a finished task (an attempt that failed on a
    /// later poll) would leave the task ended and the assignment record stale for good.
    async fn poll_tasks(&self, tasks: Vec<TaskRow>) -> Result<Vec<TaskRow>, Failure> {
        let mut out = Vec::with_capacity(tasks.len());
        for mut t in tasks {
            let r = self
                .engine
                .client
                .call(&GetTaskStatus {
                    zone_id: self.zone(),
                    task_id: t.task_id.clone(),
                })
                .await;
            match r {
                Ok(answer) => {
                    t.status = state_str(answer.task_status.status).to_owned();
                    let reason = answer.task_status.failure_reason;
                    t.failure_reason = (!reason.is_empty()).then_some(reason);
                    if t.status != IN_PROGRESS {
                        let started =
                            time::OffsetDateTime::parse(&t.created_at, &time::format_description::well_known::Rfc3339);
                        if let Ok(started) = started {
                            let took = (self.engine.now() - started).unsigned_abs();
                            crate::prometheus::task_finished(&t.task_type, &t.status, took);
                        }
                    }
                }
                Err(e) if e.is(Code::RoleConfigurationTaskNotFound) => {
                    t.status = FAILED.to_owned();
                    t.failure_reason = Some("Identity Center no longer knows this task".to_owned());
                }
                Err(e) => return Err(e.into()),
            }
            t.polls += 1;
            out.push(t);
        }
        for t in &out {
            self.push(Write::Task(t.clone()));
        }
        Ok(out)
    }

    /// Polls the operation's running tasks once; `None` when there are none. Every task that
    /// ended is returned with the others, so that its caller records what it did on this very
    /// poll: recorded only once all had ended, a delete that ended before its siblings left its
    /// assignment recorded as present, and a later rename back into the rule then counted an
    /// assignment that Identity Center did not have (the soak found it, issue 13).
    async fn follow_tasks(&self, running: Vec<TaskRow>) -> Result<Option<Vec<TaskRow>>, Failure> {
        if running.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.poll_tasks(running).await?))
    }

    /// The wait for the first task of `polled` still in progress, if any; gives up after
    /// `MAX_POLLS` polls.
    fn still_running(polled: &[TaskRow]) -> Option<Failure> {
        let t = polled.iter().find(|t| t.status == IN_PROGRESS)?;
        if t.polls >= MAX_POLLS {
            return Some(Failure::Refused(OpError {
                code: None,
                message: format!(
                    "task {} is still InProgress after {} polls; giving up",
                    t.task_id, t.polls
                ),
                request_id: None,
            }));
        }
        Some(Failure::OnTask(
            poll_delay(t.polls),
            format!("waiting for task {}", t.task_id),
        ))
    }

    /// Resolves the rules for a group name into (role configuration id, account) pairs.
    async fn desired_assignments(&self, display_name: &str) -> Result<Result<Vec<(String, u64)>, String>, Failure> {
        Ok(self.engine.resolve_rules(&self.tenant, display_name).await?)
    }

    /// Makes the group's managed role assignments match the rules: CreateRoleAssignment for
    /// the missing ones (50 per call), DeleteRoleAssignment for those no rule gives any more,
    /// each task persisted with the outcome and followed to its end.
    /// A group's role assignments in Identity Center and the tasks still running on it.
    async fn group_assignment_state(
        &self,
        group_cic_id: &str,
    ) -> Result<
        (
            Vec<crate::tencent::model::RoleAssignments>,
            Vec<crate::tencent::model::TaskInfo>,
        ),
        Failure,
    > {
        // Running tasks first, assignments second: a task that ends between the two calls then
        // shows in the second (its assignment made or gone). The other order loses it: neither
        // running when the tasks are listed, nor made when the assignments were, and a re-run
        // would forget an assignment that exists (the soak found it, issue 13).
        let in_flight = self
            .engine
            .client
            .list_all(&ListTasks {
                zone_id: self.zone(),
                principal_id: Some(group_cic_id.to_owned()),
                status: Some(TaskState::InProgress),
                max_results: Some(100),
                ..Default::default()
            })
            .await?;
        let existing = self
            .engine
            .client
            .list_all(&ListRoleAssignments {
                zone_id: self.zone(),
                principal_type: Some(PrincipalType::Group),
                principal_id: Some(group_cic_id.to_owned()),
                max_results: Some(100),
                ..Default::default()
            })
            .await?;
        Ok((existing, in_flight))
    }

    async fn assign_sync(&self) -> Outcome {
        let store = &self.engine.store;
        let tenant = self.tenant.name.clone();
        let group_id = self.op.resource_id.clone();
        let running = store
            .tasks(Some(&tenant), Some(&group_id), None, Some(IN_PROGRESS), 1000)
            .await?;
        if let Some(polled) = self.follow_tasks(running).await? {
            for t in polled.iter().filter(|t| t.status != IN_PROGRESS) {
                let create = t.task_type == task_type::CREATE_ROLE_ASSIGNMENT;
                if t.status == SUCCESS {
                    self.push(Write::Assignment {
                        tenant: tenant.clone(),
                        scim_group: group_id.clone(),
                        role_configuration_id: t.role_configuration_id.clone(),
                        target_uin: t.target_uin,
                        present: create,
                    });
                } else if create {
                    // The create was recorded before its call (see below): a failed task
                    // leaves no assignment, so the record goes.
                    self.push(Write::Assignment {
                        tenant: tenant.clone(),
                        scim_group: group_id.clone(),
                        role_configuration_id: t.role_configuration_id.clone(),
                        target_uin: t.target_uin,
                        present: false,
                    });
                }
            }
            if let Some(wait) = Self::still_running(&polled) {
                return Err(wait);
            }
            // Re-evaluate at once: the writes above commit first.
            return Err(Failure::Wait(
                Duration::from_millis(10),
                "tasks finished; re-checking the rules".to_owned(),
            ));
        }
        let Some(group) = store.link(&tenant, ResourceKind::Group, &group_id).await? else {
            return Ok("the group is not in Identity Center; nothing to assign".to_owned());
        };
        let row = store.get(ResourceKind::Group, &tenant, &group_id).await?;
        // A deleted group's assignments are removed by its delete (DeleteGroup needs them
        // gone), which waits for this operation: deleting them here too would start a second
        // DeleteRoleAssignment of each.
        if row.is_none() && store.op_unfinished(&tenant, OpKind::GroupDelete, &group_id).await? {
            return Ok(format!(
                "{}: the group is being deleted; its delete removes the assignments",
                group.cic_id
            ));
        }
        let desired = match &row {
            Some(r) => {
                let name = r
                    .doc
                    .get("displayName")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned();
                match self.desired_assignments(&name).await? {
                    Ok(d) => d,
                    Err(reason) => {
                        return Err(Failure::Refused(OpError {
                            code: None,
                            message: reason,
                            request_id: None,
                        }));
                    }
                }
            }
            None => Vec::new(),
        };
        let mut managed = store.managed_assignments(&tenant, &group_id).await?;
        // A re-run (after a crash, a lost answer, an outcome the store could not record) first
        // checks the record against Identity Center: a create is recorded before its call, so
        // an assignment made by an attempt whose task id was lost is still known as cic-bridge's
        // (and removed if no rule wants it any more), while one whose call never happened is
        // forgotten (and made again if a rule wants it).
        let mut listed = None;
        if self.op.attempts > 1 && !managed.is_empty() {
            let (existing, in_flight) = self.group_assignment_state(&group.cic_id).await?;
            let mut adopted = 0;
            for t in &in_flight {
                if managed
                    .iter()
                    .any(|(rc, uin)| rc == &t.role_configuration_id && *uin == t.target_uin)
                {
                    self.push(Write::Task(self.task_row(&TaskInfoLike::from(t), Some(&group_id))));
                    adopted += 1;
                }
            }
            if adopted > 0 {
                return Err(Failure::OnTask(
                    poll_delay(0),
                    format!(
                        "waiting for task {} (taken over after a lost answer)",
                        in_flight[0].task_id
                    ),
                ));
            }
            managed.retain(|(rc, uin)| {
                let there = existing
                    .iter()
                    .any(|a| &a.role_configuration_id == rc && a.target_uin == *uin);
                if !there {
                    self.push(Write::Assignment {
                        tenant: tenant.clone(),
                        scim_group: group_id.clone(),
                        role_configuration_id: rc.clone(),
                        target_uin: *uin,
                        present: false,
                    });
                }
                there
            });
            listed = Some((existing, in_flight));
        }
        // Failed creates with an empty reason are retried a bounded number of times; one with a
        // reason ends the operation with it.
        let history = store
            .tasks(Some(&tenant), Some(&group_id), None, Some(FAILED), 1000)
            .await?;
        let mut to_create = Vec::new();
        for pair in desired.iter().filter(|p| !managed.contains(p)) {
            let failures: Vec<&TaskRow> = history
                .iter()
                .filter(|t| {
                    t.task_type == task_type::CREATE_ROLE_ASSIGNMENT
                        && t.role_configuration_id == pair.0
                        && t.target_uin == pair.1
                })
                .collect();
            if let Some(t) = failures.iter().find(|t| t.failure_reason.is_some()) {
                return Err(Failure::Refused(OpError {
                    code: None,
                    message: format!(
                        "assigning {} on account {} failed: {} (task {})",
                        pair.0,
                        pair.1,
                        t.failure_reason.as_deref().unwrap_or_default(),
                        t.task_id
                    ),
                    request_id: None,
                }));
            }
            if failures.len() >= EMPTY_FAILURE_RETRIES {
                return Err(Failure::Refused(OpError {
                    code: None,
                    message: format!(
                        "assigning {} on account {} failed {} times without a reason (a newly joined account?)",
                        pair.0,
                        pair.1,
                        failures.len()
                    ),
                    request_id: None,
                }));
            }
            to_create.push(pair.clone());
        }
        let to_delete: Vec<(String, u64)> = managed.iter().filter(|p| !desired.contains(p)).cloned().collect();
        if to_create.is_empty() && to_delete.is_empty() {
            return Ok(format!("{}: {} assignments in place", group.cic_id, desired.len()));
        }
        // An earlier attempt may have started the work and lost the task ids (a crash between
        // the call and the commit): existing assignments and running tasks are taken over.
        let (existing, in_flight) = match listed {
            Some(l) => l,
            None => self.group_assignment_state(&group.cic_id).await?,
        };
        let mut started = 0;
        let mut entries = Vec::new();
        for (rc, uin) in &to_create {
            if existing
                .iter()
                .any(|a| &a.role_configuration_id == rc && a.target_uin == *uin)
            {
                self.push(Write::Assignment {
                    tenant: tenant.clone(),
                    scim_group: group_id.clone(),
                    role_configuration_id: rc.clone(),
                    target_uin: *uin,
                    present: true,
                });
                continue;
            }
            if let Some(t) = in_flight
                .iter()
                .find(|t| &t.role_configuration_id == rc && t.target_uin == *uin)
            {
                self.push(Write::Task(self.task_row(&TaskInfoLike::from(t), Some(&group_id))));
                started += 1;
                continue;
            }
            entries.push(RoleAssignmentInfo::new(
                rc.clone(),
                PrincipalType::Group,
                group.cic_id.clone(),
                self.engine.target_type(*uin),
                *uin,
            ));
        }
        // Recorded as cic-bridge's before the call, committed: if the answer (and so the task
        // id) is lost, the next attempt still knows the assignment is its own (see above).
        let intents: Vec<Write> = entries
            .iter()
            .map(|e| Write::Assignment {
                tenant: tenant.clone(),
                scim_group: group_id.clone(),
                role_configuration_id: e.role_configuration_id.clone().unwrap_or_default(),
                target_uin: e.target_uin.unwrap_or_default(),
                present: true,
            })
            .collect();
        if !intents.is_empty() {
            store.apply_fixes(&tenant, &intents, &[], self.engine.now()).await?;
        }
        for chunk in entries.chunks(50) {
            let r = self
                .engine
                .client
                .call(&CreateRoleAssignment {
                    zone_id: self.zone(),
                    role_assignment_info: Some(chunk.to_vec()),
                })
                .await;
            match r {
                Ok(answer) => {
                    for t in &answer.tasks {
                        self.push(Write::Task(self.task_row(&TaskInfoLike::from(t), Some(&group_id))));
                        started += 1;
                    }
                }
                // Another path created it meanwhile: take it over on the next pass.
                Err(e) if e.is(Code::RoleConfigurationAuthorizationAlreadyExist) => {}
                Err(e) if matches!(e.class(), ErrorClass::NotFound | ErrorClass::Invalid) => {
                    // Refused: nothing was created, so the records made before the call go.
                    for e in chunk {
                        self.push(Write::Assignment {
                            tenant: tenant.clone(),
                            scim_group: group_id.clone(),
                            role_configuration_id: e.role_configuration_id.clone().unwrap_or_default(),
                            target_uin: e.target_uin.unwrap_or_default(),
                            present: false,
                        });
                    }
                    let mut error = op_error(&e);
                    error.message = format!("CreateRoleAssignment for group {}: {}", group.cic_id, error.message);
                    return Err(Failure::Refused(error));
                }
                Err(e) => return Err(e.into()),
            }
        }
        let strategy = match self.engine.deprovision {
            crate::config::Deprovision::LastOnAccount => {
                Some(DeprovisionStrategy::DeprovisionForLastRoleAssignmentOnAccount)
            }
            crate::config::Deprovision::None => Some(DeprovisionStrategy::None),
        };
        for (rc, uin) in &to_delete {
            // A delete already running (the group delete's, or a lost attempt's) is followed,
            // not repeated: a second one would end Failed in Identity Center's task list. A
            // create still running (its answer lost) is followed too: a delete now would meet
            // "not found", and the assignment would appear afterwards, unrecorded.
            if let Some(t) = in_flight
                .iter()
                .find(|t| &t.role_configuration_id == rc && t.target_uin == *uin)
            {
                self.push(Write::Task(self.task_row(&TaskInfoLike::from(t), Some(&group_id))));
                started += 1;
                continue;
            }
            let r = self
                .engine
                .client
                .call(&DeleteRoleAssignment {
                    zone_id: self.zone(),
                    role_configuration_id: rc.clone(),
                    target_type: self.engine.target_type(*uin),
                    target_uin: *uin,
                    principal_type: PrincipalType::Group,
                    principal_id: group.cic_id.clone(),
                    deprovision_strategy: strategy,
                })
                .await;
            match r {
                Ok(answer) => match answer.task {
                    Some(t) => {
                        self.push(Write::Task(self.task_row(&TaskInfoLike::from(&t), Some(&group_id))));
                        started += 1;
                    }
                    None => self.push(Write::Assignment {
                        tenant: tenant.clone(),
                        scim_group: group_id.clone(),
                        role_configuration_id: rc.clone(),
                        target_uin: *uin,
                        present: false,
                    }),
                },
                Err(e) if e.is(Code::RoleConfigurationAuthorizationNotFound) => {
                    self.push(Write::Assignment {
                        tenant: tenant.clone(),
                        scim_group: group_id.clone(),
                        role_configuration_id: rc.clone(),
                        target_uin: *uin,
                        present: false,
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        if started > 0 {
            return Err(Failure::OnTask(
                poll_delay(0),
                format!("started {started} assignment tasks"),
            ));
        }
        Err(Failure::Wait(
            Duration::from_millis(10),
            "assignments recorded; re-checking".to_owned(),
        ))
    }

    /// ProvisionRoleConfiguration of one role configuration on one account (or, for `*`,
    /// one queued operation per member account), followed to the end of its task. Operations
    /// on one account run one at a time (their key is the account).
    async fn deploy(&self) -> Outcome {
        let rc = self.op.resource_id.clone();
        let target = self.op.related_id.clone().unwrap_or_default();
        if target == "*" {
            let members = self.engine.member_uins().await?;
            let now = self.engine.now();
            for uin in &members {
                self.engine
                    .store
                    .enqueue_op(&self.tenant.name, OpKind::Deploy, &rc, Some(&uin.to_string()), now)
                    .await?;
            }
            return Ok(format!(
                "queued the deployment of {rc} on {} member accounts",
                members.len()
            ));
        }
        let Ok(uin) = target.parse::<u64>() else {
            return Err(Failure::Refused(OpError {
                code: None,
                message: format!("{target:?} is not an account UIN"),
                request_id: None,
            }));
        };
        let store = &self.engine.store;
        let mine: Vec<TaskRow> = store
            .tasks(Some(&self.tenant.name), None, Some((&rc, uin)), None, 1000)
            .await?
            .into_iter()
            .filter(|t| t.task_type == task_type::PROVISION_ROLE_CONFIGURATION)
            .collect();
        // Tasks this operation started (recorded after it was created).
        let mine: Vec<TaskRow> = mine
            .into_iter()
            .filter(|t| t.created_at >= self.op.created_at)
            .collect();
        let running: Vec<TaskRow> = mine.iter().filter(|t| t.status == IN_PROGRESS).cloned().collect();
        if let Some(polled) = self.follow_tasks(running).await? {
            if let Some(wait) = Self::still_running(&polled) {
                return Err(wait);
            }
            let t = &polled[0];
            if t.status == SUCCESS {
                return Ok(format!("deployed {rc} on {uin} (task {})", t.task_id));
            }
            let failed = mine.iter().filter(|t| t.status == FAILED).count() + 1;
            if t.failure_reason.is_some() || failed >= EMPTY_FAILURE_RETRIES {
                return Err(Failure::Refused(OpError {
                    code: None,
                    message: format!(
                        "deploying {rc} on {uin} failed: {} (task {})",
                        t.failure_reason.as_deref().unwrap_or("no reason given, after retries"),
                        t.task_id
                    ),
                    request_id: None,
                }));
            }
            return Err(Failure::Wait(
                Duration::from_secs(2),
                format!("task {} failed without a reason; trying again", t.task_id),
            ));
        }
        if mine.iter().any(|t| t.status == SUCCESS) {
            return Ok(format!("deployed {rc} on {uin}"));
        }
        // A deployment an earlier attempt started (a crash or a lost answer before its task id
        // was recorded) is taken over. The first attempt has no earlier one: waiting for a
        // task does not count as an attempt.
        let in_flight = if self.op.attempts <= 1 {
            Vec::new()
        } else {
            self.engine
                .client
                .list_all(&ListTasks {
                    zone_id: self.zone(),
                    role_configuration_id: Some(rc.clone()),
                    target_uin: Some(uin),
                    task_type: Some(task_type::PROVISION_ROLE_CONFIGURATION.to_owned()),
                    status: Some(TaskState::InProgress),
                    max_results: Some(100),
                    ..Default::default()
                })
                .await?
        };
        if let Some(t) = in_flight.first() {
            self.push(Write::Task(self.task_row(&TaskInfoLike::from(t), None)));
            return Err(Failure::OnTask(
                poll_delay(0),
                format!("following running task {}", t.task_id),
            ));
        }
        let r = self
            .engine
            .client
            .call(&ProvisionRoleConfiguration {
                zone_id: self.zone(),
                role_configuration_id: rc.clone(),
                target_type: self.engine.target_type(uin),
                target_uin: uin,
            })
            .await;
        match r {
            Ok(answer) => {
                let t = answer.task;
                let mut row = self.task_row(
                    &TaskInfoLike {
                        task_id: t.task_id.clone(),
                        task_type: task_type::PROVISION_ROLE_CONFIGURATION.to_owned(),
                        role_configuration_id: rc.clone(),
                        target_uin: uin,
                        status: state_str(t.task_status.unwrap_or_default()),
                        failure_reason: None,
                    },
                    None,
                );
                row.created_at = std::cmp::max(row.created_at, self.op.created_at.clone());
                self.push(Write::Task(row));
                Err(Failure::OnTask(poll_delay(0), format!("started task {}", t.task_id)))
            }
            Err(e) if matches!(e.class(), ErrorClass::NotFound | ErrorClass::Invalid) => {
                let mut error = op_error(&e);
                error.message = format!("ProvisionRoleConfiguration of {rc} on {uin}: {}", error.message);
                Err(Failure::Refused(error))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The fields cic-bridge keeps of a task, from either task type of the API.
struct TaskInfoLike {
    task_id: String,
    task_type: String,
    role_configuration_id: String,
    target_uin: u64,
    status: &'static str,
    failure_reason: Option<String>,
}

impl From<&crate::tencent::model::TaskInfo> for TaskInfoLike {
    fn from(t: &crate::tencent::model::TaskInfo) -> Self {
        TaskInfoLike {
            task_id: t.task_id.clone(),
            task_type: t.task_type.clone(),
            role_configuration_id: t.role_configuration_id.clone(),
            target_uin: t.target_uin,
            status: state_str(t.status),
            failure_reason: t.failure_reason.clone().filter(|r| !r.is_empty()),
        }
    }
}
