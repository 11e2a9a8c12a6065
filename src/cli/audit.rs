//! `cic-bridge audit`: the audit trail from the store of --config (no daemon needed), and
//! `audit verify`, which checks its hash chain.

use crate::app;
use crate::cli::{AuditArgs, AuditCommand};
use crate::config::Config;
use crate::store::audit::{self, AuditRecord, Names};

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    if let Some(AuditCommand::Verify { config }) = args.command {
        return verify(&config).await;
    }
    let Some(config) = args.config else {
        anyhow::bail!("give --config (or `audit verify --config FILE`)");
    };
    let config = Config::load(&config)?;
    let store = app::open_store(&config).await?;
    let bound = |key: &str, v: Option<String>| -> anyhow::Result<Option<String>> {
        v.map(|v| {
            audit::parse_bound(&v).ok_or_else(|| anyhow::anyhow!("--{key} must be RFC 3339 or YYYY-MM-DD, got {v:?}"))
        })
        .transpose()
    };
    let mut names = Names {
        tenant: args.tenant,
        user: args.user,
        group: args.group,
        account: args.account,
        action: args.action,
        since: bound("since", args.since)?,
        until: bound("until", args.until)?,
        after: None,
        limit: args.limit.clamp(1, audit::MAX_QUERY_LIMIT),
    };
    if args.jsonl {
        // Every match, a page at a time, so an export is not bounded by --limit.
        names.limit = audit::MAX_QUERY_LIMIT;
        loop {
            let page = audit::query_by_names(&store, names.clone()).await?;
            for r in &page {
                println!("{}", r.to_json());
            }
            match page.last() {
                Some(last) if page.len() as i64 == names.limit => names.after = Some(last.seq),
                _ => break,
            }
        }
    } else {
        let records = audit::query_by_names(&store, names).await?;
        if args.json {
            let all: Vec<_> = records.iter().map(AuditRecord::to_json).collect();
            println!("{}", serde_json::to_string_pretty(&all)?);
        } else {
            print_table(&records);
        }
    }
    store.close().await;
    Ok(())
}

fn print_table(records: &[AuditRecord]) {
    println!(
        "{:>6}  {:<27} {:<5} {:<24} {:<38} {:>14}  {:<30} detail",
        "seq", "at", "src", "action", "user / group", "account", "actor"
    );
    for r in records {
        let subject = match (&r.user_id, &r.group_id) {
            (Some(u), Some(g)) => format!("{u} in {g}"),
            (Some(u), None) => u.clone(),
            (None, Some(g)) => g.clone(),
            (None, None) => "-".to_owned(),
        };
        println!(
            "{:>6}  {:<27} {:<5} {:<24} {:<38} {:>14}  {:<30} {}",
            r.seq,
            r.at,
            r.source,
            r.action,
            subject,
            r.account.map(|a| a.to_string()).unwrap_or_else(|| "-".into()),
            r.actor,
            r.detail
        );
    }
    if records.is_empty() {
        println!("(no records)");
    }
}

async fn verify(config: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    let store = app::open_store(&config).await?;
    let sealed = store.audit_seal().await?;
    let v = store.audit_verify().await?;
    store.close().await;
    println!(
        "audit trail: positions {} to {} ({} records checked; {} sealed now; {} committed since and not yet sealed)",
        v.first_position, v.head_position, v.checked, sealed, v.unsealed
    );
    println!("head hash: {}", v.head_hash);
    match v.problem {
        None => {
            println!("ok: every record matches the chain");
            Ok(())
        }
        Some(p) => {
            eprintln!("BROKEN: {p}");
            std::process::exit(1);
        }
    }
}
