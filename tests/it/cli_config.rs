//! `check-config` and `token new`, as the real binary.

use std::process::Command;

use crate::tencent_harness::{MEMBER_A, SECRET_ID, SECRET_KEY, create_role_configuration, spawn_emulator};

struct Out {
    ok: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cic-bridge"));
    cmd.args(args);
    // Only what the test gives: nothing inherited decides the outcome.
    for k in [
        "TENCENTCLOUD_SECRET_ID",
        "TENCENTCLOUD_SECRET_KEY",
        "CIC_BRIDGE_ADMIN_TOKEN",
        "CIC_BRIDGE_TOKEN_CORP",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    Out {
        ok: o.status.success(),
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), text).unwrap();
    f
}

const TOKEN: &str = "a-secret-scim-token-0123456789abcdef";

#[test]
fn check_config_reports_key_and_reason_and_never_prints_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let good = file(&format!(
        "[database]\nurl = \"{db}\"\n[[tenants]]\nname = \"corp\"\nzone_id = \"z-abcdefghijkl\"\ntoken_env = \"CIC_BRIDGE_TOKEN_CORP\"\nmode = \"shadow\"\n"
    ));
    let path = good.path().to_str().unwrap();
    let o = run(&["check-config", "--config", path], &[("CIC_BRIDGE_TOKEN_CORP", TOKEN)]);
    assert!(o.ok, "{} {}", o.stdout, o.stderr);
    assert!(o.stdout.contains("ok"), "{}", o.stdout);

    // The token is missing, then too short; the value itself never appears.
    let o = run(&["check-config", "--config", path], &[]);
    assert_eq!(o.code, Some(1));
    assert!(
        o.stdout
            .contains("tenants[0].token_env: environment variable CIC_BRIDGE_TOKEN_CORP is not set"),
        "{}",
        o.stdout
    );
    let o = run(
        &["check-config", "--config", path],
        &[("CIC_BRIDGE_TOKEN_CORP", "short-secret")],
    );
    assert_eq!(o.code, Some(1));
    assert!(o.stdout.contains("fewer than 16 characters"), "{}", o.stdout);
    assert!(!o.stdout.contains("short-secret") && !o.stderr.contains("short-secret"));

    // A live tenant needs Tencent credentials; a short admin token is named.
    let live = file(&format!(
        "[database]\nurl = \"{db}\"\n[[tenants]]\nname = \"corp\"\nzone_id = \"z-abcdefghijkl\"\ntoken_env = \"CIC_BRIDGE_TOKEN_CORP\"\n"
    ));
    let o = run(
        &["check-config", "--config", live.path().to_str().unwrap()],
        &[("CIC_BRIDGE_TOKEN_CORP", TOKEN), ("CIC_BRIDGE_ADMIN_TOKEN", "tiny")],
    );
    assert_eq!(o.code, Some(1));
    assert!(o.stdout.contains("TENCENTCLOUD_SECRET_ID: "), "{}", o.stdout);
    assert!(o.stdout.contains("CIC_BRIDGE_ADMIN_TOKEN: "), "{}", o.stdout);
    assert!(!o.stdout.contains(TOKEN) && !o.stderr.contains(TOKEN));

    // Invalid values and unknown keys: key and reason.
    let bad = file("[[tenants]]\nname = \"corp\"\nzone_id = \"zone1\"\ntoken_env = \"X\"\n");
    let o = run(&["check-config", "--config", bad.path().to_str().unwrap()], &[]);
    assert_eq!(o.code, Some(1));
    assert!(o.stdout.starts_with("tenants[0].zone_id: "), "{}", o.stdout);
    // A JWT-only tenant needs no token; a key file that does not exist is named.
    let jwt = file(&format!(
        "[database]\nurl = \"{db}\"\n[[tenants]]\nname = \"corp\"\nzone_id = \"z-abcdefghijkl\"\nmode = \"shadow\"\n\
         [tenants.jwt]\nissuer = \"https://sts.windows.net/t/\"\naudience = \"8adf8e6e-67b2-4cf2-a259-e3dc5476c621\"\nkey = \"/nonexistent/key.pem\"\n"
    ));
    let o = run(&["check-config", "--config", jwt.path().to_str().unwrap()], &[]);
    assert_eq!(o.code, Some(1));
    assert!(
        o.stdout
            .starts_with("tenants[0].jwt.key: cannot read /nonexistent/key.pem"),
        "{}",
        o.stdout
    );
    let key = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwt/key1.pub.pem");
    let jwt = file(&format!(
        "[database]\nurl = \"{db}\"\n[[tenants]]\nname = \"corp\"\nzone_id = \"z-abcdefghijkl\"\nmode = \"shadow\"\n\
         [tenants.jwt]\nissuer = \"https://sts.windows.net/t/\"\naudience = \"8adf8e6e-67b2-4cf2-a259-e3dc5476c621\"\nkey = \"{}\"\n",
        key.display()
    ));
    let o = run(&["check-config", "--config", jwt.path().to_str().unwrap()], &[]);
    assert!(o.ok, "{} {}", o.stdout, o.stderr);
}

#[tokio::test]
async fn check_config_online_checks_the_rules_against_identity_center() {
    let emu = spawn_emulator(|_| {}).await;
    let rc = create_role_configuration(&emu.client(), &emu.zone(), "Admin").await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let text = |rc: &str, uin: u64| {
        format!(
            "[database]\nurl = \"{db}\"\n[cic]\nendpoint = \"{}\"\n[[tenants]]\nname = \"corp\"\nzone_id = \"{}\"\ntoken_env = \"CIC_BRIDGE_TOKEN_CORP\"\n\
             [[assignments]]\ngroup = \"admins\"\nrole_configuration_id = \"{rc}\"\ntarget_uins = [{uin}]\n",
            emu.url,
            emu.zone()
        )
    };
    let env = [
        ("CIC_BRIDGE_TOKEN_CORP", TOKEN),
        ("TENCENTCLOUD_SECRET_ID", SECRET_ID),
        ("TENCENTCLOUD_SECRET_KEY", SECRET_KEY),
    ];
    let good = file(&text(&rc.role_configuration_id, MEMBER_A));
    let p = good.path().to_str().unwrap().to_owned();
    let o = tokio::task::spawn_blocking(move || run(&["check-config", "--config", &p, "--online"], &env))
        .await
        .unwrap();
    assert!(o.ok, "{} {}", o.stdout, o.stderr);
    let bad = file(&text("rc-doesnotexist", 424242));
    let p = bad.path().to_str().unwrap().to_owned();
    let offline = {
        let p = p.clone();
        tokio::task::spawn_blocking(move || run(&["check-config", "--config", &p], &env))
            .await
            .unwrap()
    };
    assert!(offline.ok, "offline, the names are not checked: {}", offline.stdout);
    let o = tokio::task::spawn_blocking(move || run(&["check-config", "--config", &p, "--online"], &env))
        .await
        .unwrap();
    assert_eq!(o.code, Some(1), "{} {}", o.stdout, o.stderr);
    assert!(o.stdout.contains("rc-doesnotexist does not exist"), "{}", o.stdout);
    assert!(
        o.stdout.contains("account 424242 is not a member account"),
        "{}",
        o.stdout
    );
}

#[tokio::test]
async fn check_config_online_resolves_department_rules_and_names_an_unknown_department() {
    let emu = spawn_emulator(|c| {
        c.settings.member_uins = vec![MEMBER_A, 100_000_000_002, 100_000_000_003];
        c.settings.departments = vec![
            ("Production".into(), vec![MEMBER_A]),
            ("Production/Payments".into(), vec![100_000_000_002]),
        ];
        c.settings.member_tags = vec![(100_000_000_002, "env".into(), "prod".into())];
    })
    .await;
    create_role_configuration(&emu.client(), &emu.zone(), "OpsAccess").await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let text = |departments: &str| {
        format!(
            "[database]\nurl = \"{db}\"\n[cic]\nendpoint = \"{}\"\n[[tenants]]\nname = \"corp\"\nzone_id = \"{}\"\ntoken_env = \"CIC_BRIDGE_TOKEN_CORP\"\n\
             [[assignments]]\ngroup = \"oncall\"\nrole_configuration = \"OpsAccess\"\ndepartments = [{departments}]\n\
             [[assignments]]\ngroup = \"sre\"\nrole_configuration = \"OpsAccess\"\naccount_tags = {{ env = \"prod\" }}\n",
            emu.url,
            emu.zone()
        )
    };
    let env = [
        ("CIC_BRIDGE_TOKEN_CORP", TOKEN),
        ("TENCENTCLOUD_SECRET_ID", SECRET_ID),
        ("TENCENTCLOUD_SECRET_KEY", SECRET_KEY),
    ];
    let good = file(&text("\"Production\""));
    let p = good.path().to_str().unwrap().to_owned();
    let o = tokio::task::spawn_blocking(move || run(&["check-config", "--config", &p, "--online"], &env))
        .await
        .unwrap();
    assert!(o.ok, "{} {}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains(&format!(
            "2 account(s): {MEMBER_A} (department Production), 100000000002 (department Production)"
        )),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("1 account(s): 100000000002 (tag env=prod)"),
        "{}",
        o.stdout
    );
    let bad = file(&text("\"Production/Payroll\", 999"));
    let p = bad.path().to_str().unwrap().to_owned();
    let o = tokio::task::spawn_blocking(move || run(&["check-config", "--config", &p, "--online"], &env))
        .await
        .unwrap();
    assert_eq!(o.code, Some(1), "{} {}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("department \"Production/Payroll\" does not exist"),
        "{}",
        o.stdout
    );
}

#[test]
fn token_new_prints_a_fresh_token_once_and_the_environment_line() {
    let line = |out: &str, var: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{var}=")))
            .unwrap_or_else(|| panic!("no {var}= line in {out}"))
            .to_owned()
    };
    let a = run(&["token", "new", "--tenant", "corp"], &[]);
    assert!(a.ok, "{}", a.stderr);
    let t1 = line(&a.stdout, "CIC_BRIDGE_TOKEN_CORP");
    assert_eq!(t1.len(), 64);
    assert!(t1.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(a.stdout.matches(&t1).count(), 1, "printed once");
    let t2 = line(
        &run(&["token", "new", "--tenant", "corp"], &[]).stdout,
        "CIC_BRIDGE_TOKEN_CORP",
    );
    assert_ne!(t1, t2, "fresh every time");

    // With a configuration, the tenant's own token_env; the token works with check-config.
    let dir = tempfile::tempdir().unwrap();
    let cfg = file(&format!(
        "[database]\nurl = \"sqlite://{}\"\n[[tenants]]\nname = \"corp\"\nzone_id = \"z-abcdefghijkl\"\ntoken_env = \"SCIM_TOKEN_FOR_OKTA\"\nmode = \"shadow\"\n",
        dir.path().join("t.db").display()
    ));
    let path = cfg.path().to_str().unwrap();
    let o = run(&["token", "new", "--tenant", "corp", "--config", path], &[]);
    assert!(o.ok, "{}", o.stderr);
    let t3 = line(&o.stdout, "SCIM_TOKEN_FOR_OKTA");
    let c = run(&["check-config", "--config", path], &[("SCIM_TOKEN_FOR_OKTA", &t3)]);
    assert!(c.ok, "{}", c.stdout);
    let o = run(&["token", "new", "--tenant", "other", "--config", path], &[]);
    assert!(!o.ok);
    assert!(o.stderr.contains("no tenant named \"other\""), "{}", o.stderr);
}

#[tokio::test]
async fn status_asks_the_running_daemon() {
    let app = crate::helpers::spawn_app().await;
    app.create_user("status.user@corp.example").await;
    let root = app.root.clone();
    let out = tokio::task::spawn_blocking(move || {
        let good = run(
            &["status", "--url", &root],
            &[("CIC_BRIDGE_ADMIN_TOKEN", crate::helpers::ADMIN_TOKEN)],
        );
        let json = run(
            &["status", "--url", &root, "--json"],
            &[("CIC_BRIDGE_ADMIN_TOKEN", crate::helpers::ADMIN_TOKEN)],
        );
        let wrong = run(
            &["status", "--url", &root],
            &[("CIC_BRIDGE_ADMIN_TOKEN", "not-the-admin-token-0123456789")],
        );
        let missing = run(&["status", "--url", &root], &[]);
        (good, json, wrong, missing)
    })
    .await
    .unwrap();
    let (good, json, wrong, missing) = out;
    assert!(good.ok, "{}", good.stderr);
    assert!(good.stdout.starts_with("cic-bridge "), "{}", good.stdout);
    // Tenant `a` holds the one user; tenant rows show users, groups and memberships.
    let row = good
        .stdout
        .lines()
        .find(|l| l.starts_with("a "))
        .unwrap_or_else(|| panic!("no row for tenant a:\n{}", good.stdout));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cols[..5], &["a", "shadow", "1", "0", "0"], "{row}");
    assert!(json.ok, "{}", json.stderr);
    let body: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(body["tenants"][0]["users"], 1, "{body}");
    assert!(!wrong.ok && wrong.stderr.contains("401"), "{}", wrong.stderr);
    assert!(
        !missing.ok && missing.stderr.contains("CIC_BRIDGE_ADMIN_TOKEN"),
        "{}",
        missing.stderr
    );
}
