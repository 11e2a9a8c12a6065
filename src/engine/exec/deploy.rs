//! `deploy`: ProvisionRoleConfiguration of one role configuration on one account, followed to
//! the end of its task.

use super::*;

impl Exec<'_> {
    /// ProvisionRoleConfiguration of one role configuration on one account (or, for `*`,
    /// one queued operation per member account), followed to the end of its task. Operations
    /// on one account run one at a time (their key is the account).
    pub(super) async fn deploy(&self) -> Outcome {
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
            return Err(refused(OpError {
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
        let running: Vec<TaskRow> = mine
            .iter()
            .filter(|t| t.status == TaskStatus::InProgress)
            .cloned()
            .collect();
        if let Some(polled) = self.follow_tasks(running).await? {
            if let Some(wait) = Self::still_running(&polled) {
                return Err(wait);
            }
            let t = &polled[0];
            if t.status == TaskStatus::Success {
                return Ok(format!("deployed {rc} on {uin} (task {})", t.task_id));
            }
            let failed = mine.iter().filter(|t| t.status == TaskStatus::Failed).count() + 1;
            if t.failure_reason.is_some() || failed >= EMPTY_FAILURE_RETRIES {
                return Err(refused(OpError {
                    code: None,
                    message: format!(
                        "deploying {rc} on {uin} failed: {} (task {})",
                        t.failure_reason.as_deref().unwrap_or("no reason given, after retries"),
                        t.task_id
                    ),
                    request_id: None,
                }));
            }
            return Err(Stop::again(
                Duration::from_secs(2),
                format!("task {} failed without a reason; trying again", t.task_id),
            ));
        }
        if mine.iter().any(|t| t.status == TaskStatus::Success) {
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
            return Err(Stop::on_task(
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
                        status: t.task_status.unwrap_or_default().into(),
                        failure_reason: None,
                    },
                    None,
                );
                row.created_at = std::cmp::max(row.created_at, self.op.created_at.clone());
                self.push(Write::Task(row));
                Err(Stop::on_task(poll_delay(0), format!("started task {}", t.task_id)))
            }
            Err(e) if matches!(e.class(), ErrorClass::NotFound | ErrorClass::Invalid) => {
                let mut error = op_error(&e);
                error.message = format!("ProvisionRoleConfiguration of {rc} on {uin}: {}", error.message);
                Err(refused(error))
            }
            Err(e) => Err(e.into()),
        }
    }
}
