//! `group.sync` and `group.delete`: a group created, adopted, renamed or deleted.

use super::*;

impl Exec<'_> {
    pub(super) async fn group_sync(&self) -> Outcome {
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

    pub(super) async fn find_group(&self, name: &str) -> Result<Option<GroupInfo>, Stop> {
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
    pub(super) async fn find_own_group(&self, name: &str) -> Result<Option<GroupInfo>, Stop> {
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

    pub(super) async fn group_create(&self, desired: GroupFields) -> Outcome {
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
                        None => Err(Stop::again(
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
            Err(e) if e.is(Code::GroupNameAlreadyExists) => match self.find_group(&desired.group_name).await? {
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
                    Err(refused(error))
                }
            },
            Err(e) if e.is(Code::GroupNameFormatError) => Err(refused(op_error(&e))),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn adopt_group(&self, found: GroupInfo, desired: GroupFields, how: &str) -> Outcome {
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

    pub(super) async fn group_update(&self, mut link: CicLink, desired: GroupFields) -> Outcome {
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

    pub(super) async fn group_delete(&self) -> Outcome {
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
            return Err(Stop::again(
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
            return Err(Stop::on_task(
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
    pub(super) async fn forget_group(&self) -> Result<(), Stop> {
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
}
