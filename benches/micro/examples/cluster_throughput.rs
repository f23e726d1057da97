//! Decision throughput of `RedisStore` on one Redis master against a Redis Cluster of three
//! masters, in one run. The example starts its own servers on loopback ports (`redis-server`,
//! and `redis-cli --cluster create` for the cluster; no replicas, no persistence) and stops them.
//!
//! ```text
//! cd benches/micro && cargo run --release --features redis --example cluster_throughput
//! ```
//!
//! Each worker thread makes decisions for its own stream of token trees (a fresh tree every ten
//! decisions), each with a nonce, a budget and a rate window — what a verified call sends to the
//! store. `AGENTCAP_THREADS` (default 32) and `AGENTCAP_SECONDS` (default 10) change the load.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[cfg(feature = "redis")]
mod run {
    use std::net::TcpListener;
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use agentcap::state::{
        BudgetUse, RateUse, RedisStore, RedisStoreConfig, StateRequest, StateStore, StateVerdict,
    };

    struct Servers {
        children: Vec<Child>,
        dir: PathBuf,
    }

    impl Drop for Servers {
        fn drop(&mut self) {
            for c in &mut self.children {
                let _ = c.kill();
                let _ = c.wait();
            }
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn free_port() -> u16 {
        loop {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
                return port;
            }
        }
    }

    fn ping(port: u16) -> bool {
        redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
            .and_then(|mut con| redis::cmd("PING").query::<String>(&mut con))
            .is_ok()
    }

    fn start(n: usize, cluster: bool) -> (Servers, Vec<u16>) {
        let dir =
            std::env::temp_dir().join(format!("agentcap-tp-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut servers = Servers {
            children: Vec::new(),
            dir: dir.clone(),
        };
        let mut ports = Vec::new();
        for _ in 0..n {
            let port = free_port();
            let mut cmd = Command::new("redis-server");
            cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&dir);
            if cluster {
                cmd.args(["--cluster-enabled", "yes", "--cluster-config-file"])
                    .arg(dir.join(format!("nodes-{port}.conf")));
            }
            servers.children.push(
                cmd.stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("redis-server"),
            );
            let deadline = Instant::now() + Duration::from_secs(10);
            while !ping(port) {
                assert!(Instant::now() < deadline, "redis-server starts");
                std::thread::sleep(Duration::from_millis(50));
            }
            ports.push(port);
        }
        if cluster {
            let mut create = Command::new("redis-cli");
            create.args(["--cluster", "create"]);
            for p in &ports {
                create.arg(format!("127.0.0.1:{p}"));
            }
            let out = create
                .args(["--cluster-replicas", "0", "--cluster-yes"])
                .stdin(Stdio::null())
                .output()
                .expect("redis-cli");
            assert!(out.status.success(), "redis-cli --cluster create");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let ok = ports.iter().all(|p| {
                    redis::Client::open(format!("redis://127.0.0.1:{p}/"))
                        .and_then(|c| c.get_connection())
                        .and_then(|mut con| {
                            redis::cmd("CLUSTER").arg("INFO").query::<String>(&mut con)
                        })
                        .is_ok_and(|i| i.contains("cluster_state:ok"))
                });
                if ok {
                    break;
                }
                assert!(Instant::now() < deadline, "the cluster becomes healthy");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        (servers, ports)
    }

    /// Decisions per second with `threads` workers for `seconds`.
    fn measure(store: Arc<RedisStore>, threads: usize, seconds: u64) -> f64 {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let now_ms = || {
            i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
                .unwrap()
        };
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (store, stop, done) = (store.clone(), stop.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut tree = [0u8; 16];
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        if i.is_multiple_of(10) {
                            tree = *uuid::Uuid::new_v4().as_bytes();
                        }
                        i += 1;
                        let nonce = bytes32(uuid::Uuid::new_v4().as_bytes(), &[0; 16]);
                        let now = now_ms();
                        let mut r = StateRequest::new(now, tree, nonce, Duration::from_secs(121));
                        let scope = bytes32(&tree, &[1; 16]);
                        r.budgets
                            .push(BudgetUse::new(scope, u64::MAX / 2, now + 3_600_000));
                        r.rates
                            .push(RateUse::new(scope, 1_000_000, Duration::from_secs(60)));
                        assert_eq!(store.decide(&r).unwrap(), StateVerdict::Allow);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        // Warm up the pool, then count.
        std::thread::sleep(Duration::from_secs(1));
        let before = done.load(Ordering::Relaxed);
        let started = Instant::now();
        std::thread::sleep(Duration::from_secs(seconds));
        let counted = done.load(Ordering::Relaxed) - before;
        let elapsed = started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.join().unwrap();
        }
        counted as f64 / elapsed
    }

    /// 32 bytes from two 16-byte halves (only distinctness matters here).
    fn bytes32(a: &[u8; 16], b: &[u8; 16]) -> [u8; 32] {
        std::array::from_fn(|i| if i < 16 { a[i] } else { b[i - 16] })
    }

    pub fn main() {
        let threads: usize = std::env::var("AGENTCAP_THREADS")
            .ok()
            .map_or(32, |s| s.parse().unwrap());
        let seconds: u64 = std::env::var("AGENTCAP_SECONDS")
            .ok()
            .map_or(10, |s| s.parse().unwrap());
        let pool = threads;

        let (single_servers, single) = start(1, false);
        let mut config = RedisStoreConfig::new(format!("redis://127.0.0.1:{}/", single[0]));
        config.pool_size = pool;
        let one = measure(Arc::new(RedisStore::new(config).unwrap()), threads, seconds);
        drop(single_servers);

        let (cluster_servers, ports) = start(3, true);
        let nodes: Vec<String> = ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}/"))
            .collect();
        let mut config = RedisStoreConfig::cluster(nodes);
        config.pool_size = pool;
        let three = measure(Arc::new(RedisStore::new(config).unwrap()), threads, seconds);
        drop(cluster_servers);

        let cores = std::thread::available_parallelism().map_or(0, usize::from);
        println!(
            "{threads} threads, {seconds} s each, {cores} cores: 1 master {one:.0} decisions/s; \
             3-master cluster {three:.0} decisions/s ({:.2}x)",
            three / one
        );
    }
}

fn main() {
    #[cfg(feature = "redis")]
    run::main();
    #[cfg(not(feature = "redis"))]
    eprintln!("build with --features redis");
}
