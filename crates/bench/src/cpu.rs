//! CPU time by part, read from Linux's `/proc`: what a phase cost PostgreSQL, the crewtime
//! nodes and the load generator. Every part runs on this machine (load goes only to loopback),
//! so the split says where a scenario's time goes, and what PostgreSQL's share alone allows.
//!
//! Times are in the kernel's `USER_HZ` ticks (100 per second on Linux's common architectures):
//! phases here last seconds and cost hundreds of ticks, so a tick's granularity is below 1%.

use std::time::{Duration, Instant};

const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds spent so far, by part, and when they were read.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    at: Instant,
    /// Every PostgreSQL process, with the backends that have exited (the postmaster's reaped
    /// children): pgbench's connections end with its run.
    postgres: f64,
    /// The crewtime nodes given to `read`: in user space, and in the kernel.
    nodes_user: f64,
    nodes_kernel: f64,
    /// This process, the load generator.
    bench: f64,
    /// The whole machine, all CPUs, busy (not idle, not waiting for I/O).
    machine: f64,
}

/// What one phase cost: CPU seconds by part over `seconds` of wall time.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Use {
    pub seconds: f64,
    pub postgres: f64,
    pub nodes_user: f64,
    pub nodes_kernel: f64,
    pub bench: f64,
    pub machine: f64,
}

impl Use {
    /// Milliseconds of CPU per operation for a part's CPU seconds, when the phase ran `ops`.
    pub fn ms_each(cpu: f64, ops: f64) -> f64 {
        cpu / ops.max(1e-9) * 1e3
    }

    /// How many operations the phase ran at `per_second`.
    pub fn ops_at(&self, per_second: f64) -> f64 {
        per_second * self.seconds
    }
}

/// What was spent from `start` (a reading taken earlier, if one could be) until now.
pub fn since(start: Option<Reading>, nodes: &[u32]) -> Option<Use> {
    start.zip(read(nodes)).map(|(a, b)| a.until(&b))
}

/// The CPUs this machine offers every part of the run.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Reads the counters now; `None` where `/proc` cannot be read (not Linux, or hidden).
pub fn read(nodes: &[u32]) -> Option<Reading> {
    let mut postgres = 0.0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        // A process may end between the listing and the read: it is skipped.
        if let Some(s) = stat(pid).filter(|s| s.comm == "postgres") {
            postgres += s.user + s.kernel + s.children;
        }
    }
    let mut nodes_user = 0.0;
    let mut nodes_kernel = 0.0;
    for &pid in nodes {
        let s = stat(pid)?;
        nodes_user += s.user;
        nodes_kernel += s.kernel;
    }
    let me = stat(std::process::id())?;
    Some(Reading {
        at: Instant::now(),
        postgres,
        nodes_user,
        nodes_kernel,
        bench: me.user + me.kernel,
        machine: machine_busy()?,
    })
}

impl Reading {
    /// CPU seconds spent between `self` and a later reading.
    pub fn until(&self, later: &Reading) -> Use {
        let spent = |a: f64, b: f64| (b - a).max(0.0);
        Use {
            seconds: later.at.duration_since(self.at).as_secs_f64(),
            postgres: spent(self.postgres, later.postgres),
            nodes_user: spent(self.nodes_user, later.nodes_user),
            nodes_kernel: spent(self.nodes_kernel, later.nodes_kernel),
            bench: spent(self.bench, later.bench),
            machine: spent(self.machine, later.machine),
        }
    }
}

/// Reads the counters after `wait`, in a task of its own (for the start of a measured window
/// that begins after a warm-up).
pub fn read_after(wait: Duration, nodes: Vec<u32>) -> tokio::task::JoinHandle<Option<Reading>> {
    tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        read(&nodes)
    })
}

struct Stat {
    comm: String,
    user: f64,
    kernel: f64,
    /// Reaped children, user and kernel.
    children: f64,
}

/// `/proc/<pid>/stat`: the name is in parentheses and may hold spaces, so fields are counted
/// from the last `)`. After it: state (3), ppid (4), ... utime (14), stime (15), cutime (16),
/// cstime (17), in proc(5)'s numbering.
fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let field = |n: usize| -> Option<f64> {
        // Field 3 (the state) is the first after the name.
        let v: f64 = fields.get(n.checked_sub(3)?)?.parse().ok()?;
        Some(v / TICKS_PER_SECOND)
    };
    Some(Stat {
        comm,
        user: field(14)?,
        kernel: field(15)?,
        children: field(16)? + field(17)?,
    })
}

/// The machine's busy CPU seconds: `/proc/stat`'s first line less idle and I/O wait.
fn machine_busy() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: f64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some((total - idle) / TICKS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_read_and_its_time_grows() {
        let a = read(&[std::process::id()]).expect("/proc is readable here");
        // Spin ~50 ms of CPU in user space.
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let b = read(&[std::process::id()]).expect("/proc is readable here");
        let u = a.until(&b);
        assert!(u.bench > 0.0, "the spin shows as this process's CPU: {u:?}");
        assert!(
            u.machine >= u.bench * 0.5,
            "the machine includes this process: {u:?}"
        );
    }
}
