//! The configuration file as `Config::load` reads it, from text (`Config::from_toml_str`: the
//! embedded defaults, then the text, then the same validation; no environment, no files), and
//! what start-up builds from an accepted configuration: the Identity Center client settings
//! and the role assignment rules, matched against group names.
#![no_main]

use cic_bridge::config::Config;
use cic_bridge::engine::rules::Rules;
use libfuzzer_sys::fuzz_target;

/// Group names of the shapes the rules are written for (plain, pattern, naming convention).
const GROUP_NAMES: [&str; 4] = ["Cloud Admins", "CIC_100000000001_Admin", "finance-readers", ""];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(config) = Config::from_toml_str(text) else {
        return;
    };
    let _ = config.cic.client_config();
    // check-config and start-up both build the rules after validation; an error is reported
    // with its key, never a panic.
    let Ok(rules) = Rules::new(&config.assignments) else {
        return;
    };
    for tenant in &config.tenants {
        for name in GROUP_NAMES {
            let _ = rules.wanted(&tenant.name, name);
            let _ = rules.matching(&tenant.name, name);
        }
        let _ = rules.targets(&tenant.name);
        for (_, selection) in rules.selections(&tenant.name) {
            let _ = selection.to_string();
        }
        let _ = rules.references(&tenant.name);
    }
});
