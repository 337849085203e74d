//! System information for the technician (CONSOLE-8): operating system,
//! host, CPU, memory, disks, network interfaces, uptime and the busiest
//! processes, from the sysinfo crate. Bounded: at most a fixed number of
//! items, each value cut to a short length, so the answer always fits one
//! message (`MAX_SYSTEM_INFO_ITEMS`).

use std::time::Duration;

use secours_protocol::pb::SystemInfoItem;
use secours_protocol::wire::validate::MAX_SYSTEM_INFO_ITEMS;
use sysinfo::{Disks, Networks, ProcessesToUpdate, System};

/// Most disks, interfaces and processes listed.
const MAX_DISKS: usize = 32;
const MAX_INTERFACES: usize = 32;
const TOP_PROCESSES: usize = 15;
/// Longest value kept, characters.
const MAX_VALUE: usize = 200;

fn item(section: &str, key: &str, value: impl Into<String>) -> SystemInfoItem {
    let value: String = value.into();
    SystemInfoItem {
        section: section.into(),
        key: key.chars().take(MAX_VALUE).collect(),
        value: value.chars().take(MAX_VALUE).collect(),
    }
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1024.0 * 1024.0 * 1024.0))
}

fn duration(secs: u64) -> String {
    let (d, h, m) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60);
    format!("{d} d {h} h {m} min")
}

/// Reads this computer's information (takes a fraction of a second: CPU
/// usage is measured over an interval).
pub fn collect() -> Vec<SystemInfoItem> {
    let mut sys = System::new();
    sys.refresh_memory();
    sys.refresh_cpu_usage();
    sys.refresh_processes(ProcessesToUpdate::All, true);
    std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL.max(Duration::from_millis(200)));
    sys.refresh_cpu_usage();
    sys.refresh_processes(ProcessesToUpdate::All, true);

    let unknown = || "unknown".to_owned();
    let mut out = vec![
        item(
            "system",
            "os",
            System::long_os_version().unwrap_or_else(unknown),
        ),
        item(
            "system",
            "kernel",
            System::kernel_version().unwrap_or_else(unknown),
        ),
        item(
            "system",
            "host",
            System::host_name().unwrap_or_else(unknown),
        ),
        item("system", "architecture", System::cpu_arch()),
        item("system", "uptime", duration(System::uptime())),
    ];
    let cpus = sys.cpus();
    out.push(item(
        "cpu",
        "model",
        cpus.first()
            .map_or_else(unknown, |c| c.brand().trim().to_owned()),
    ));
    out.push(item("cpu", "logical cores", cpus.len().to_string()));
    if let Some(n) = System::physical_core_count() {
        out.push(item("cpu", "physical cores", n.to_string()));
    }
    out.push(item(
        "cpu",
        "usage",
        format!("{:.0} %", sys.global_cpu_usage()),
    ));
    let load = System::load_average();
    out.push(item(
        "cpu",
        "load average",
        format!("{:.2} {:.2} {:.2}", load.one, load.five, load.fifteen),
    ));
    out.push(item("memory", "total", mib(sys.total_memory())));
    out.push(item("memory", "used", mib(sys.used_memory())));
    out.push(item("memory", "swap used", mib(sys.used_swap())));

    let disks = Disks::new_with_refreshed_list();
    for d in disks.list().iter().take(MAX_DISKS) {
        out.push(item(
            "disks",
            &d.mount_point().to_string_lossy(),
            format!(
                "{} free of {} ({}, {})",
                gib(d.available_space()),
                gib(d.total_space()),
                d.file_system().to_string_lossy(),
                d.name().to_string_lossy()
            ),
        ));
    }
    let networks = Networks::new_with_refreshed_list();
    let mut names: Vec<_> = networks.iter().collect();
    names.sort_by(|a, b| a.0.cmp(b.0));
    for (name, data) in names.into_iter().take(MAX_INTERFACES) {
        let addrs: Vec<String> = data.ip_networks().iter().map(ToString::to_string).collect();
        out.push(item(
            "network",
            name,
            format!("{} [{}]", data.mac_address(), addrs.join(", ")),
        ));
    }
    let mut procs: Vec<_> = sys.processes().values().collect();
    procs.sort_by(|a, b| {
        b.cpu_usage()
            .total_cmp(&a.cpu_usage())
            .then(b.memory().cmp(&a.memory()))
    });
    for p in procs.into_iter().take(TOP_PROCESSES) {
        out.push(item(
            "processes",
            &format!("{} {}", p.pid(), p.name().to_string_lossy()),
            format!("{:.1} % CPU, {}", p.cpu_usage(), mib(p.memory())),
        ));
    }
    out.truncate(MAX_SYSTEM_INFO_ITEMS);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_is_described_within_bounds() {
        let items = collect();
        for key in ["os", "host", "uptime"] {
            assert!(items.iter().any(|i| i.section == "system" && i.key == key));
        }
        assert!(items.iter().any(|i| i.section == "memory"));
        assert!(items.iter().any(|i| i.section == "processes"));
        assert!(items.len() <= MAX_SYSTEM_INFO_ITEMS);
        assert!(items.iter().all(|i| i.value.chars().count() <= MAX_VALUE));
        let message = secours_protocol::Message::SystemInfo(secours_protocol::pb::SystemInfo {
            id: 1,
            items,
        });
        assert!(secours_protocol::wire::validate::validate(&message).is_ok());
    }
}
