//! Measurements of the process the network runs in: CPU time (Linux `/proc`) and gossipsub's
//! Prometheus counters.

use std::time::Duration;

/// User + system CPU time of this process so far (Linux `/proc/self/stat`, in 10 ms ticks;
/// `None` elsewhere).
pub fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux target we run on (reading it needs libc's sysconf).
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time of this process's live threads so far, to the nanosecond (Linux
/// `/proc/self/task/*/schedstat`; `None` elsewhere). Threads that ended are not counted, so
/// take differences over short spans only.
pub fn threads_cpu() -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let Ok(task) = task else { continue };
        // A thread may end between listing and reading: skip it.
        let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// Sums the samples of a counter in Prometheus text, whatever the prefix and labels.
pub fn counter_sum(text: &str, name: &str) -> u64 {
    flashback_node::prometheus::sum_any_prefix(text, name) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_summed_over_labels_whatever_the_prefix() {
        let text = "# HELP x\n\
                    libp2p_gossipsub_topic_msg_recv_counts_total{hash=\"a\"} 3\n\
                    libp2p_gossipsub_topic_msg_recv_counts_total{hash=\"b\"} 4\n\
                    libp2p_gossipsub_topic_msg_recv_counts_unfiltered_total{hash=\"a\"} 9\n";
        assert_eq!(counter_sum(text, "topic_msg_recv_counts_total"), 7);
        assert_eq!(
            counter_sum(text, "topic_msg_recv_counts_unfiltered_total"),
            9
        );
        assert_eq!(counter_sum(text, "absent_total"), 0);
    }
}
