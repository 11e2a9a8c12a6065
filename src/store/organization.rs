//! The organization snapshot (departments and member accounts) that assignment rules resolve
//! against: one row, written by the engine's refresh. Applying a new snapshot and queueing the
//! assignment syncs it implies commit together, so a crash between the two cannot leave a
//! snapshot in force whose consequences were never queued.

use time::OffsetDateTime;

use super::ops::ts;
use super::sql::stmt;
use super::writes::enqueue_assign_syncs;
use super::{Store, StoreError};

/// The stored snapshot row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OrganizationRow {
    /// The snapshot in force (JSON).
    pub doc: String,
    /// When Identity Center last answered a refresh (changed or not).
    pub fetched_at: String,
    /// When `doc` was put in force.
    pub applied_at: String,
    /// A newer snapshot the destructive-change fuse keeps aside, and why.
    pub held_doc: Option<String>,
    pub held_note: Option<String>,
    /// The last refresh's failure, cleared by the next success.
    pub error: Option<String>,
    pub error_at: Option<String>,
}

const COLUMNS: &str = "doc, fetched_at, applied_at, held_doc, held_note, error, error_at";

impl Store {
    pub async fn organization(&self) -> Result<Option<OrganizationRow>, StoreError> {
        let r = stmt(format!("SELECT {COLUMNS} FROM organization_snapshot WHERE id = 1"))
            .fetch_optional(self.read())
            .await;
        self.observe(r, false)
    }

    /// When the snapshot in force was put in force (a cheap check of whether a copy is
    /// current).
    pub async fn organization_applied_at(&self) -> Result<Option<String>, StoreError> {
        let r = stmt("SELECT applied_at FROM organization_snapshot WHERE id = 1")
            .scalar_optional(self.read())
            .await;
        self.observe(r, false)
    }

    /// Puts `doc` in force (dropping any held snapshot and error) and queues an assignment
    /// sync of every linked group of each of `tenants`, in one transaction. Returns the number
    /// of syncs queued.
    pub async fn apply_organization(
        &self,
        doc: &str,
        tenants: &[String],
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let r: Result<_, StoreError> = async {
            let now_s = ts(now);
            let mut tx = self.begin().await?;
            stmt(
                "INSERT INTO organization_snapshot (id, doc, fetched_at, applied_at) VALUES (1, $1, $2, $2) \
                 ON CONFLICT (id) DO UPDATE SET doc = $1, fetched_at = $2, applied_at = $2, \
                   held_doc = NULL, held_note = NULL, error = NULL, error_at = NULL",
            )
            .bind(doc)
            .bind(now_s.as_str())
            .execute(tx.on())
            .await?;
            let detail = serde_json::json!({ "tenants": tenants });
            if let Some(entry) = super::audit::operator_entry(None, "organization.apply", detail) {
                super::audit::record(&mut tx, &[entry], &now_s).await?;
            }
            let mut queued = 0;
            for tenant in tenants {
                queued += enqueue_assign_syncs(&mut tx, tenant, &now_s).await?;
            }
            tx.commit().await?;
            Ok(queued)
        }
        .await;
        self.observe(r, false)
    }

    /// A refresh found nothing new: the snapshot in force is current as of `now`. A held
    /// snapshot is dropped (the organization is back to what is in force).
    pub async fn organization_unchanged(&self, now: OffsetDateTime) -> Result<(), StoreError> {
        let r = stmt(
            "UPDATE organization_snapshot SET fetched_at = $1, held_doc = NULL, held_note = NULL, \
               error = NULL, error_at = NULL WHERE id = 1",
        )
        .bind(ts(now))
        .execute(self.write())
        .await;
        self.observe(r.map(drop), false)
    }

    /// Keeps `doc` aside instead of applying it (the fuse tripped), with the reason.
    pub async fn hold_organization(&self, doc: &str, note: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        let r = stmt(
            "UPDATE organization_snapshot SET fetched_at = $3, held_doc = $1, held_note = $2, \
               error = NULL, error_at = NULL WHERE id = 1",
        )
        .bind(doc)
        .bind(note)
        .bind(ts(now))
        .execute(self.write())
        .await;
        self.observe(r.map(drop), false)
    }

    /// Records a failed refresh; the snapshot in force stays.
    pub async fn organization_failed(&self, error: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        let r = stmt("UPDATE organization_snapshot SET error = $1, error_at = $2 WHERE id = 1")
            .bind(error)
            .bind(ts(now))
            .execute(self.write())
            .await;
        self.observe(r.map(drop), false)
    }

    /// Display names of the groups of `tenant` that exist in Identity Center (what a refresh
    /// resolves the rules for, to count what it would remove).
    pub async fn linked_group_names(&self, tenant: &str) -> Result<Vec<String>, StoreError> {
        let r = stmt(
            "SELECT g.display_name FROM cic_links l JOIN scim_groups g ON g.tenant = l.tenant AND g.id = l.scim_id \
             WHERE l.tenant = $1 AND l.kind = 'group' ORDER BY g.display_name",
        )
        .bind(tenant)
        .scalars(self.read())
        .await;
        self.observe(r, false)
    }
}
