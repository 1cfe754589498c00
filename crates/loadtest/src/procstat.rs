//! CPU time and memory of a process, and a process by name, read from Linux's `/proc`.
//! (Peak memory alone: [`liveness::telemetry::peak_rss`].)

use std::time::Duration;

/// CPU time (user + system) a process has used so far.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count fields from
    // the last ')'. utime and stime are fields 14 and 15, i.e. the 12th and 13th after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = u64::try_from(ticks).ok().filter(|t| *t > 0)?;
    Some(Duration::from_micros((utime + stime) * 1_000_000 / ticks))
}

/// A process's memory as `/proc/PID/status` tells it, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Resident set size now (`VmRSS`).
    pub rss: u64,
    /// Peak resident set size since the process started (`VmHWM`).
    pub hwm: u64,
    /// The anonymous part of `rss` (`RssAnon`): heap and stacks, where a leak would show, as
    /// opposed to mapped files such as the code of ONNX Runtime, which grow as code is first run.
    pub anon: u64,
}

/// The memory of a process; `None` when `/proc` does not tell (no such process, a zombie,
/// another system).
pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line[name.len()..].split_whitespace().next()?.parse().ok()?;
        Some(kb * 1024)
    };
    Some(Memory {
        rss: field("VmRSS:")?,
        hwm: field("VmHWM:")?,
        anon: field("RssAnon:")?,
    })
}

/// The first process whose command name (`/proc/PID/comm`) is `name`, e.g. the broker's
/// `beam.smp` when it runs on this machine.
pub fn find_process(name: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == name)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        // Burn CPU until the clock, which counts in ticks of 10 ms, has moved: a fixed amount of
        // work can be optimised away or finish within one tick. Five seconds of it is a failure.
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while cpu_time(pid).is_none_or(|t| t == Duration::ZERO) {
            for i in 0..1_000_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "no CPU time read for this busy process"
            );
        }
        assert!(cpu_time(u32::MAX).is_none());
        let m = memory(pid).unwrap();
        assert!(m.anon > 0 && m.anon <= m.rss && m.rss <= m.hwm, "{m:?}");
        assert!(memory(u32::MAX).is_none());
        let me = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        assert!(find_process(me.trim_end()).is_some());
        assert!(find_process("no such process name").is_none());
    }
}
