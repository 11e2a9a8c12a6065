//! The composition root: builds the store and the HTTP app from a configuration and runs them
//! on a listener until the shutdown token fires. Tests call [`run`] with a port-0 listener.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

use crate::config::{Config, TenantMode};
use crate::engine::{Engine, TenantPolicy};
use crate::http::auth::{Tenant, TokenTable};
use crate::http::{self, AppState, Settings};
use crate::store::Store;
use crate::tencent::clock::SharedClock;
use crate::tencent::{CicClient, Credentials};

/// Tenants' SCIM tokens and the Identity Center credentials, read from the environment (or
/// given by `serve --dev` and tests).
pub struct Secrets {
    pub tenant_tokens: Vec<(String, SecretString)>,
    /// Required when any tenant is live.
    pub cic: Option<Credentials>,
    /// `CIC_BRIDGE_ADMIN_TOKEN`; without it the admin API refuses every request.
    pub admin_token: Option<SecretString>,
}

impl Secrets {
    /// Reads each tenant's `token_env`. A missing or short token stops start-up with the key.
    pub fn from_env(config: &Config) -> Result<Secrets, crate::config::ConfigError> {
        let mut tenant_tokens = Vec::new();
        for (i, t) in config.tenants.iter().enumerate() {
            // A tenant with JWTs only has no static token.
            if t.token_env.is_empty() {
                continue;
            }
            let value = std::env::var(&t.token_env).unwrap_or_default();
            if value.trim().len() < 16 {
                return Err(crate::config::ConfigError {
                    key: format!("tenants[{i}].token_env"),
                    reason: format!(
                        "environment variable {} must hold a token of at least 16 characters",
                        t.token_env
                    ),
                });
            }
            tenant_tokens.push((t.name.clone(), SecretString::from(value.trim().to_string())));
        }
        let any_live = config.tenants.iter().any(|t| t.mode == TenantMode::Live);
        let cic = match Credentials::from_env() {
            Ok(c) => Some(c),
            Err(e) if any_live => {
                return Err(crate::config::ConfigError {
                    key: "TENCENTCLOUD_SECRET_ID".to_string(),
                    reason: format!("{e}; live tenants need Identity Center credentials (or set mode = \"shadow\")"),
                });
            }
            Err(_) => None,
        };
        let admin_token = match std::env::var("CIC_BRIDGE_ADMIN_TOKEN") {
            Ok(t) if t.trim().len() >= 16 => Some(SecretString::from(t.trim().to_string())),
            Ok(_) => {
                return Err(crate::config::ConfigError {
                    key: "CIC_BRIDGE_ADMIN_TOKEN".to_string(),
                    reason: "must hold a token of at least 16 characters".to_string(),
                });
            }
            Err(_) => None,
        };
        Ok(Secrets {
            tenant_tokens,
            cic,
            admin_token,
        })
    }
}

/// Builds the engine: the Identity Center client from `[cic]` and the credentials, the
/// tenants' policies from `[[tenants]]`.
pub fn build_engine(
    config: &Config,
    secrets: &Secrets,
    store: Store,
    clock: SharedClock,
) -> anyhow::Result<Arc<Engine>> {
    let credentials = secrets.cic.clone().unwrap_or_else(|| Credentials::new("", ""));
    let client = CicClient::new(config.cic.client_config(), credentials)
        .context("building the Identity Center client")?
        .with_clock(clock.clone());
    let engine = Engine::new(
        store,
        Arc::new(client),
        config.tenants.iter().map(TenantPolicy::from),
        config.engine.clone(),
        clock,
        crate::engine::rules::Rules::new(&config.assignments)?,
        config.cic.manager_uin,
    );
    engine.set_audit_retention(config.audit.retain_days);
    Ok(engine)
}

/// On SIGHUP, reads `path` again and puts its `[[assignments]]` rules in force once they
/// validate (other settings need a restart). A bad file or unknown names are logged with the
/// key and the reason; the rules in force stay.
pub async fn reload_rules_on_sighup(path: std::path::PathBuf, engine: Arc<Engine>, shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; rules reload needs a restart");
            return;
        };
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                got = hup.recv() => if got.is_none() { return },
            }
            tracing::info!(path = %path.display(), "SIGHUP: reloading [[assignments]]");
            let rules = Config::load(&path)
                .map_err(|e| e.to_string())
                .and_then(|c| crate::engine::rules::Rules::new(&c.assignments).map_err(|e| e.to_string()));
            match rules {
                Err(e) => tracing::error!(error = %e, "reload refused; the rules in force stay"),
                Ok(rules) => match crate::store::audit::acting(
                    crate::store::Origin::system("rules reload (SIGHUP)"),
                    engine.reload_rules(rules),
                )
                .await
                {
                    Ok(problems) if problems.is_empty() => tracing::info!("assignment rules reloaded"),
                    Ok(problems) => tracing::error!(problems = ?problems, "reload refused; the rules in force stay"),
                    Err(e) => tracing::error!(error = %e, "reload refused: cannot reach Identity Center to validate"),
                },
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, engine);
        shutdown.cancelled().await;
    }
}

/// Opens the database of `config` and applies pending migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    Store::connect(
        config.database.url.expose(),
        config.database.max_connections,
        config.database.sqlite_synchronous == crate::config::SqliteSync::Full,
    )
    .await
    .with_context(|| format!("opening the database {}", config.database.url))
}

/// The tenants' static tokens (as digests) and JWT verifiers. A tenant needs at least one.
pub fn token_table(config: &Config, secrets: &Secrets) -> anyhow::Result<TokenTable> {
    let mut tokens = TokenTable::new();
    for (i, t) in config.tenants.iter().enumerate() {
        let tenant = Tenant {
            name: t.name.clone(),
            zone_id: t.zone_id.clone(),
        };
        let token = secrets
            .tenant_tokens
            .iter()
            .find(|(name, _)| name == &t.name)
            .map(|(_, s)| s);
        if let Some(token) = token {
            tokens.add(tenant.clone(), token.expose_secret());
        }
        match &t.jwt {
            Some(j) => tokens.add_jwt(crate::http::jwt::JwtVerifier::new(i, Arc::new(tenant), j)?),
            None if token.is_none() => anyhow::bail!("no token for tenant {}", t.name),
            None => {}
        }
    }
    Ok(tokens)
}

/// Runs the daemon until `shutdown` is cancelled, then drains in-flight requests.
pub async fn run(
    config: Config,
    secrets: Secrets,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let clock = crate::tencent::clock::system_clock();
    let store = open_store(&config).await?.with_clock(clock.clone());
    let engine = build_engine(&config, &secrets, store.clone(), clock)?;
    run_with(config, secrets, store, engine, listener, shutdown).await
}

/// [`run`] with the store and engine already built (`serve --dev` resynchronises the store
/// with its fresh emulator first; tests inject a clock). Binds `server.admin_listen` when set.
pub async fn run_with(
    config: Config,
    secrets: Secrets,
    store: Store,
    engine: Arc<Engine>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let admin = match config.server.admin_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding server.admin_listen {addr}"))?,
        ),
        None => None,
    };
    run_listeners(config, secrets, store, engine, listener, admin, shutdown).await
}

/// [`run_with`] with the admin listener already bound (tests bind port 0). With `admin`, the
/// admin API, status page and metrics are served there and not on `listener`.
pub async fn run_listeners(
    config: Config,
    secrets: Secrets,
    store: Store,
    engine: Arc<Engine>,
    listener: TcpListener,
    admin_listener: Option<TcpListener>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Installed before the first request, so that no event is lost (see `prometheus`).
    let _ = crate::prometheus::handle();
    let monitor = Arc::new(crate::monitor::Monitor::new(Duration::from_secs(
        config.server.status_sample_secs,
    )));
    let tokens = token_table(&config, &secrets)?;
    let state = AppState {
        store: store.clone(),
        provision: Arc::new(crate::provision::Provisioner::new(
            store.clone(),
            engine.clone(),
            Duration::from_millis(config.engine.create_wait_ms),
            crate::provision::Limits::from(&config.scim),
        )),
        engine: engine.clone(),
        admin: Arc::new(crate::http::admin::AdminAuth::new(
            secrets.admin_token.as_ref().map(|t| t.expose_secret()),
        )),
        tokens: Arc::new(tokens),
        settings: Arc::new(Settings {
            public_url: config.server.public_url.clone(),
            max_body_bytes: config.server.max_body_bytes,
            max_page_size: config.scim.max_page_size,
            default_page_size: config.scim.default_page_size,
            request_timeout: Duration::from_secs(config.server.request_timeout_secs),
            body_timeout: Duration::from_secs(config.server.body_timeout_secs),
        }),
        monitor: monitor.clone(),
    };
    // The raw tokens are not kept past this point: the token table and the admin check hold
    // SHA-256 digests only. (Identity Center's secret key stays with the client, which signs
    // every call with it.)
    drop(secrets);

    let (main_router, admin_router) = match &admin_listener {
        Some(_) => {
            let (scim, admin) = http::split_routers(state);
            (scim, Some(admin))
        }
        None => (http::router(state), None),
    };
    // `/Users/` and `/Users` are the same resource: Microsoft's collection sends the former.
    let app = NormalizePathLayer::trim_trailing_slash().layer(main_router);
    let addr = listener.local_addr()?;
    tracing::info!(%addr, tenants = config.tenants.len(), "serving SCIM at /scim/v2");

    // Rules name role configurations and accounts that must exist: a typo stops start-up with
    // the names, rather than failing every assignment later. Identity Center being
    // unreachable does not: the assignment operations then report it themselves.
    match engine.validate_rules(&engine.rules()).await {
        Ok(problems) if !problems.is_empty() => {
            anyhow::bail!(
                "[[assignments]] refer to what does not exist:\n  {}",
                problems.join("\n  ")
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not validate [[assignments]] against Identity Center at start-up"),
    }
    if !engine.rules().is_empty() {
        engine.queue_assignment_syncs().await;
    }
    let header_timeout = Duration::from_secs(config.server.header_timeout_secs);
    // Started once the rules validated, so that a refused start-up leaves nothing running.
    let admin_server = match (admin_listener, admin_router) {
        (Some(l), Some(router)) => {
            tracing::info!(addr = %l.local_addr()?, "serving the admin API, status page and metrics");
            let app = NormalizePathLayer::trim_trailing_slash().layer(router);
            Some(tokio::spawn(http::serve::serve(
                l,
                app,
                header_timeout,
                shutdown.clone(),
            )))
        }
        _ => None,
    };
    let sampler = tokio::spawn(monitor.run(store.clone(), engine.clone(), shutdown.clone()));
    // Learns of store outages (disk full, database down) and of their end, without waiting for
    // a client's write; see `store::health`.
    let health = tokio::spawn(store.clone().watch_health(
        engine.owner().to_owned(),
        Duration::from_secs(5),
        shutdown.clone(),
    ));
    let drain = Duration::from_secs(config.server.shutdown_timeout_secs);
    let worker = tokio::spawn(engine.clone().run(shutdown.clone(), drain));
    let server = tokio::spawn(http::serve::serve(listener, app, header_timeout, shutdown.clone()));
    // The listener is bound, the database open and migrated, the rules validated: tell a
    // `Type=notify` systemd unit that start-up is done. Without NOTIFY_SOCKET (not under
    // systemd, or another Type=) this does nothing.
    notify_systemd(&[sd_notify::NotifyState::Ready]);
    shutdown.cancelled().await;
    notify_systemd(&[sd_notify::NotifyState::Stopping]);
    tracing::info!("shutting down: finishing in-flight requests");
    let servers = async {
        let main = server.await;
        let admin = match admin_server {
            Some(a) => a.await,
            None => Ok(Ok(())),
        };
        (main, admin)
    };
    match tokio::time::timeout(drain, servers).await {
        Ok((main, admin)) => {
            main??;
            admin??;
        }
        Err(_) => tracing::warn!(
            seconds = drain.as_secs(),
            "in-flight requests did not finish before the deadline"
        ),
    }
    sampler.abort();
    health.abort();
    // The engine drains within the same deadline (it started counting at the same signal).
    if tokio::time::timeout(drain + Duration::from_secs(1), worker)
        .await
        .is_err()
    {
        tracing::warn!("the engine did not stop before the deadline");
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Sends `states` to systemd's notification socket when the daemon runs under a `Type=notify`
/// unit. A failure only costs systemd's view of readiness, so it is logged, not fatal.
fn notify_systemd(states: &[sd_notify::NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "could not notify systemd");
    }
}
