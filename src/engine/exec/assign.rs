//! `assign.sync`: a group's role assignments made to match the `[[assignments]]` rules, each
//! task recorded with the outcome and followed to its end.

use super::*;

impl Exec<'_> {
    /// Resolves the rules for a group name into (role configuration id, account) pairs.
    pub(super) async fn desired_assignments(
        &self,
        display_name: &str,
    ) -> Result<Result<Vec<(String, u64)>, String>, Stop> {
        Ok(self.engine.resolve_rules(&self.tenant, display_name).await?)
    }

    /// A group's role assignments in Identity Center and the tasks still running on it.
    pub(super) async fn group_assignment_state(
        &self,
        group_cic_id: &str,
    ) -> Result<
        (
            Vec<crate::tencent::model::RoleAssignments>,
            Vec<crate::tencent::model::TaskInfo>,
        ),
        Stop,
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

    /// Makes the group's managed role assignments match the rules: CreateRoleAssignment for
    /// the missing ones (50 per call), DeleteRoleAssignment for those no rule gives any more,
    /// each task persisted with the outcome and followed to its end.
    pub(super) async fn assign_sync(&self) -> Outcome {
        let store = &self.engine.store;
        let tenant = self.tenant.name.clone();
        let group_id = self.op.resource_id.clone();
        let running = store
            .tasks(Some(&tenant), Some(&group_id), None, Some(TaskStatus::InProgress), 1000)
            .await?;
        if let Some(polled) = self.follow_tasks(running).await? {
            for t in polled.iter().filter(|t| t.status != TaskStatus::InProgress) {
                let create = t.task_type == task_type::CREATE_ROLE_ASSIGNMENT;
                if t.status == TaskStatus::Success {
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
            return Err(Stop::again(
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
                        return Err(refused(OpError {
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
                return Err(Stop::on_task(
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
            .tasks(Some(&tenant), Some(&group_id), None, Some(TaskStatus::Failed), 1000)
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
                return Err(refused(OpError {
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
                return Err(refused(OpError {
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
                    return Err(refused(error));
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
            return Err(Stop::on_task(
                poll_delay(0),
                format!("started {started} assignment tasks"),
            ));
        }
        Err(Stop::again(
            Duration::from_millis(10),
            "assignments recorded; re-checking".to_owned(),
        ))
    }
}
