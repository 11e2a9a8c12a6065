//! `user.sync` and `user.delete`: a user created, adopted, updated, re-created or deleted in
//! Identity Center, and the role assignments a principal must lose before it can be deleted.

use super::*;

impl Exec<'_> {
    pub(super) async fn user_sync(&self) -> Outcome {
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

    pub(super) async fn user_create(&self, desired: UserFields) -> Outcome {
        if let Some(problem) = mapping::user_name_problem(&desired.user_name) {
            return Err(refused(OpError {
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
            Err(e) if e.is(Code::UsernameFormatError) => Err(refused(op_error(&e))),
            Err(e) => Err(e.into()),
        }
    }

    /// `UsernameAlreadyExists` / `EmailAlreadyExists`: ours (after a lost answer) is linked;
    /// someone else's follows `on_conflict`. Never a retry loop.
    pub(super) async fn user_conflict(&self, e: CicError, desired: UserFields) -> Outcome {
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
                Err(refused(error))
            }
        }
    }

    /// Links an existing Identity Center user and brings it to the desired state.
    pub(super) async fn adopt_user(&self, found: UserInfo, desired: UserFields, how: &str) -> Outcome {
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
    pub(super) async fn find_own_user(&self, user_name: &str) -> Result<Option<UserInfo>, Stop> {
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

    pub(super) async fn find_user(&self, user_name: &str) -> Result<Option<UserInfo>, Stop> {
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

    pub(super) async fn user_update(&self, mut link: CicLink, mut desired: UserFields) -> Outcome {
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
                    return Err(Stop::from(CicError::Api {
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
    pub(super) async fn relink_user(&self, desired: UserFields) -> Outcome {
        self.unlink(ResourceKind::User);
        let result = Box::pin(self.user_create(desired)).await?;
        Ok(format!("the linked Identity Center user no longer existed; {result}"))
    }

    /// `on_username_change = recreate`: the old user goes (memberships first), a new one
    /// comes under the new name, and saving its link queues its memberships again.
    pub(super) async fn user_recreate(&self, link: CicLink, desired: UserFields) -> Outcome {
        self.delete_cic_user(&link.cic_id).await?;
        self.unlink(ResourceKind::User);
        let result = Box::pin(self.user_create(desired)).await?;
        Ok(format!(
            "userName changed from {:?}: deleted {} and recreated (on_username_change = recreate); {result}",
            link.cic_name, link.cic_id
        ))
    }

    pub(super) async fn user_delete(&self) -> Outcome {
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
    pub(super) async fn delete_cic_user(&self, cic_id: &str) -> Result<usize, Stop> {
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
    pub(super) async fn delete_assignments(
        &self,
        principal_type: PrincipalType,
        principal_id: &str,
        blocked: CicError,
    ) -> Stop {
        let created = crate::engine::parse_ts(&self.op.created_at).unwrap_or_else(|| self.engine.now());
        let age = (self.engine.now() - created).whole_seconds();
        match self.delete_assignments_once(principal_type, principal_id).await {
            // Waiting is not an attempt; past the operation's age limit the delete fails as
            // any retry would (a task that never ends must not keep it waiting forever).
            Ok(Some(wait)) if age < i64::try_from(self.engine.config.max_age_secs).unwrap_or(i64::MAX) => wait,
            Ok(Some(_)) => blocked.into(),
            // Nothing listed (ListRoleAssignments can lag): retry the delete with backoff.
            Ok(None) => blocked.into(),
            Err(f) => f,
        }
    }

    pub(super) async fn delete_assignments_once(
        &self,
        principal_type: PrincipalType,
        principal_id: &str,
    ) -> Result<Option<Stop>, Stop> {
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
            (0, Some(task)) => Some(Stop::on_task(
                Duration::from_secs(1),
                format!("waiting for task {task} (DeleteRoleAssignment already running)"),
            )),
            (n, _) => Some(Stop::on_task(poll_delay(0), format!("started {n} assignment tasks"))),
        })
    }
}
