//! The provisioning layer: what a SCIM write means for cic-bridge. The HTTP handlers turn a
//! request into a call here and the answer into a SCIM response; the store keeps resources and
//! the outbox. In between live the rules: Identity Center's user-name rule, the
//! `on_username_change` policy, waking the engine, and for a live tenant's create, waiting for
//! Identity Center's verdict so that a conflict or a full zone reaches the IdP.

mod limits;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::config::OnUsernameChange;
use crate::engine::{Engine, mapping};
use crate::scim::patch::{self, MemberEdit, PatchOp, PatchOutcome};
use crate::scim::schema::ResourceKind;
use crate::scim::{ScimError, ScimType, model};
use crate::store::{IfMatch, OpState, Origin, PatchError, Row, Store, StoreError};

/// The target of the "created" and "deleted" lines: the one they had when the handlers wrote
/// them, so that `RUST_LOG` directives and log searches written for them keep matching.
const LOG_TARGET: &str = "cic_bridge::http::scim::resources";

/// Why a write was refused. Nothing was stored; the HTTP layer answers each with its SCIM
/// error.
pub use limits::Limits;

#[derive(Debug)]
pub enum Refusal {
    /// No resource with that id in the tenant.
    NotFound,
    /// `If-Match` names another version than the current one.
    PreconditionFailed,
    /// The name is taken: in the store, or (a rolled-back create) in Identity Center.
    Conflict { detail: String },
    /// The request cannot be stored or provisioned as it is.
    Invalid { scim_type: ScimType, detail: String },
    /// The PATCH operations do not apply to the resource: the patch engine's own error.
    Patch(ScimError),
    /// The Identity Center zone is full; the create was not kept, so the IdP's retry after
    /// `retry_after` seconds is a fresh create.
    QuotaFull { retry_after: u64, detail: String },
    /// The store failed for its own reasons (an outage, a transaction conflict, a fault), not
    /// the request's.
    Store(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Refusal::NotFound,
            StoreError::PreconditionFailed => Refusal::PreconditionFailed,
            StoreError::Conflict(detail) => Refusal::Conflict { detail },
            StoreError::UnknownMembers(ids) => invalid_value(format!(
                "members refer to users that do not exist in this tenant: {}",
                ids.join(", ")
            )),
            StoreError::InvalidValue(detail) => invalid_value(detail),
            other => Refusal::Store(other),
        }
    }
}

impl From<PatchError<Refusal>> for Refusal {
    fn from(e: PatchError<Refusal>) -> Self {
        match e {
            PatchError::Store(e) => e.into(),
            PatchError::Rejected(r) => r,
        }
    }
}

fn invalid_value(detail: impl Into<String>) -> Refusal {
    Refusal::Invalid {
        scim_type: ScimType::InvalidValue,
        detail: detail.into(),
    }
}

/// Creates, replaces, patches and deletes users and groups for the SCIM handlers.
pub struct Provisioner {
    store: Store,
    engine: Arc<Engine>,
    /// How long a live tenant's create waits for Identity Center (`engine.create_wait_ms`).
    create_wait: Duration,
    limits: Limits,
}

impl Provisioner {
    pub fn new(store: Store, engine: Arc<Engine>, create_wait: Duration, limits: Limits) -> Provisioner {
        Provisioner {
            store,
            engine,
            create_wait,
            limits,
        }
    }

    /// Stores a new resource with its sync queued. For a live tenant, waits (bounded) for the
    /// sync: a resource Identity Center refused was rolled back by the engine, and one that met
    /// a full zone is abandoned, and both are refused here.
    pub async fn create(
        &self,
        kind: ResourceKind,
        tenant: &str,
        mut doc: Map<String, Value>,
        members: Option<Vec<String>>,
        origin: &Origin,
    ) -> Result<Row, Refusal> {
        model::default_active(kind, &mut doc);
        self.limits.check_document(&doc)?;
        self.limits.check_member_count(members.as_ref().map_or(0, Vec::len))?;
        check_user_name(kind, &doc)?;
        let (row, op_id) = self.store.create(kind, tenant, doc, members, origin).await?;
        tracing::info!(target: LOG_TARGET, kind = kind.name(), id = %row.id, op = op_id, "created");
        self.engine.notify();
        if self.engine.is_live(tenant) {
            self.create_outcome(kind, tenant, &row, op_id).await?;
        }
        Ok(row)
    }

    /// Waits (up to `create_wait`) for the create to reach Identity Center. `Ok`: answer 201
    /// (done, or still in progress and finishing in the background).
    async fn create_outcome(&self, kind: ResourceKind, tenant: &str, row: &Row, op_id: i64) -> Result<(), Refusal> {
        let Some(status) = self.engine.wait_for(op_id, self.create_wait).await else {
            return Ok(());
        };
        let error = format!(
            "{}{}{}",
            status
                .error_code
                .as_deref()
                .map(|c| format!("{c}: "))
                .unwrap_or_default(),
            status.last_error.as_deref().unwrap_or("refused by Identity Center"),
            status
                .error_request_id
                .as_deref()
                .map(|r| format!(" (Identity Center RequestId {r})"))
                .unwrap_or_default()
        );
        match status.state {
            OpState::Failed if self.store.get(kind, tenant, &row.id).await?.is_none() => {
                // The engine rolled the create back: Identity Center refused the resource.
                let conflict = status
                    .error_code
                    .as_deref()
                    .is_some_and(|c| c.ends_with("AlreadyExists"));
                Err(if conflict {
                    Refusal::Conflict { detail: error }
                } else {
                    invalid_value(error)
                })
            }
            OpState::Parked => {
                let abandoned = self
                    .store
                    .abandon_parked_create(op_id, tenant, kind, &row.id, self.engine.now())
                    .await?;
                if !abandoned {
                    return Ok(());
                }
                // Okta schedules a retry of the job after Retry-After, and Entra retries failed
                // exports in later cycles; nothing is kept, so the retry is a fresh create
                // (README, "Conflicts and quotas"). At least a minute, and not before the engine
                // would look at the zone again.
                let zone = self
                    .engine
                    .tenant(tenant)
                    .map(|t| t.zone_id.as_str())
                    .unwrap_or_default();
                Err(Refusal::QuotaFull {
                    retry_after: self.engine.park_recheck_secs().max(60),
                    detail: format!("the Identity Center zone {zone} is full: {error}; retry later"),
                })
            }
            _ => Ok(()),
        }
    }

    /// Replaces a resource's document (and a group's members when given).
    #[allow(clippy::too_many_arguments)] // a PUT: the resource, its precondition, the new document and members, who
    pub async fn replace(
        &self,
        kind: ResourceKind,
        tenant: &str,
        id: &str,
        if_match: Option<&IfMatch>,
        doc: Map<String, Value>,
        members: Option<Vec<String>>,
        origin: &Origin,
    ) -> Result<Row, Refusal> {
        self.limits.check_document(&doc)?;
        self.limits.check_member_count(members.as_ref().map_or(0, Vec::len))?;
        check_user_name(kind, &doc)?;
        let read_link = self.rename_policy_applies(kind, tenant);
        let row = self
            .store
            .patch(
                kind,
                tenant,
                id,
                if_match,
                read_link,
                (origin, "replace"),
                move |current: &Row, linked| {
                    check_rename(!linked, &current.doc, &doc)?;
                    Ok(PatchOutcome {
                        doc,
                        member_edits: members.map(MemberEdit::Replace).into_iter().collect(),
                    })
                },
            )
            .await?;
        self.engine.notify();
        Ok(row)
    }

    /// Applies PATCH operations to a resource, all or none.
    pub async fn patch(
        &self,
        kind: ResourceKind,
        tenant: &str,
        id: &str,
        if_match: Option<&IfMatch>,
        ops: Vec<PatchOp>,
        origin: &Origin,
    ) -> Result<Row, Refusal> {
        let rid = id.to_owned();
        let read_link = self.rename_policy_applies(kind, tenant);
        let limits = self.limits;
        let row = self
            .store
            .patch(
                kind,
                tenant,
                id,
                if_match,
                read_link,
                (origin, "patch"),
                move |current: &Row, linked| {
                    let outcome = patch::apply(kind, &rid, &current.doc, &ops).map_err(Refusal::Patch)?;
                    limits.check_document(&outcome.doc)?;
                    limits.check_members(&outcome.member_edits)?;
                    if kind == ResourceKind::User {
                        check_user_name(kind, &outcome.doc)?;
                        check_rename(!linked, &current.doc, &outcome.doc)?;
                    }
                    Ok(outcome)
                },
            )
            .await?;
        self.engine.notify();
        Ok(row)
    }

    /// Deletes a resource, queueing its removal from Identity Center.
    pub async fn delete(
        &self,
        kind: ResourceKind,
        tenant: &str,
        id: &str,
        if_match: Option<&IfMatch>,
        origin: &Origin,
    ) -> Result<(), Refusal> {
        self.store.delete(kind, tenant, id, if_match, origin).await?;
        tracing::info!(target: LOG_TARGET, kind = kind.name(), id = %id, "deleted");
        self.engine.notify();
        Ok(())
    }

    /// With `on_username_change = "reject"`, a user that exists in Identity Center keeps its
    /// userName (Identity Center user names are immutable). Whether it exists is read in the
    /// write transaction (`Store::patch` with `read_link`): a check made before it could be
    /// overtaken by the engine saving the user's link.
    fn rename_policy_applies(&self, kind: ResourceKind, tenant: &str) -> bool {
        kind == ResourceKind::User
            && self
                .engine
                .tenant(tenant)
                .is_some_and(|t| t.on_username_change == OnUsernameChange::Reject)
    }
}

/// Identity Center user names are 1-64 characters of `[0-9A-Za-z+=,.@_-]`: anything else
/// could never be provisioned, so the IdP hears it now rather than from a failed operation.
fn check_user_name(kind: ResourceKind, doc: &Map<String, Value>) -> Result<(), Refusal> {
    if kind != ResourceKind::User {
        return Ok(());
    }
    let name = doc.get("userName").and_then(Value::as_str).unwrap_or_default();
    match mapping::user_name_problem(name) {
        Some(problem) => Err(invalid_value(problem)),
        None => Ok(()),
    }
}

/// Refuses a change of userName unless `allowed` (see `rename_policy_applies`).
fn check_rename(allowed: bool, old: &Map<String, Value>, new: &Map<String, Value>) -> Result<(), Refusal> {
    let name = |d: &Map<String, Value>| d.get("userName").and_then(Value::as_str).map(str::to_owned);
    if !allowed && name(old) != name(new) {
        return Err(Refusal::Invalid {
            scim_type: ScimType::Mutability,
            detail: format!(
                "userName cannot change from {:?}: Identity Center user names are immutable (on_username_change = \"reject\")",
                name(old).unwrap_or_default()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(user_name: &str) -> Map<String, Value> {
        let mut d = Map::new();
        d.insert("userName".into(), Value::String(user_name.into()));
        d
    }

    #[test]
    fn store_errors_the_request_caused_become_refusals() {
        assert!(matches!(Refusal::from(StoreError::NotFound), Refusal::NotFound));
        assert!(matches!(
            Refusal::from(StoreError::PreconditionFailed),
            Refusal::PreconditionFailed
        ));
        match Refusal::from(StoreError::UnknownMembers(vec!["u1".into(), "u2".into()])) {
            Refusal::Invalid {
                scim_type: ScimType::InvalidValue,
                detail,
            } => assert_eq!(
                detail,
                "members refer to users that do not exist in this tenant: u1, u2"
            ),
            other => panic!("{other:?}"),
        }
        // A fault of the store's own is not the request's: it stays a store error.
        assert!(matches!(
            Refusal::from(StoreError::Invalid("bad row".into())),
            Refusal::Store(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn a_user_name_change_is_refused_only_when_not_allowed() {
        assert!(check_rename(false, &doc("ann"), &doc("ann")).is_ok());
        assert!(check_rename(true, &doc("ann"), &doc("bob")).is_ok());
        match check_rename(false, &doc("ann"), &doc("bob")) {
            Err(Refusal::Invalid {
                scim_type: ScimType::Mutability,
                detail,
            }) => assert!(detail.starts_with("userName cannot change from \"ann\": "), "{detail}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn user_names_identity_center_cannot_hold_are_invalid() {
        assert!(check_user_name(ResourceKind::User, &doc("ann@corp.example")).is_ok());
        assert!(matches!(
            check_user_name(ResourceKind::User, &doc("ann smith")),
            Err(Refusal::Invalid {
                scim_type: ScimType::InvalidValue,
                ..
            })
        ));
        // Groups have no userName: the rule is the users'.
        assert!(check_user_name(ResourceKind::Group, &doc("ann smith")).is_ok());
    }
}
