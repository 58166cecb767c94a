//! One step of a plan: an operation on the kernel, its inverse, and how `ip` would say it.

use std::fmt;

use crate::firewall::{FirewallIntent, FirewallKind};
use crate::macvtap::{MacvtapOpts, TapNode};
use crate::overlay::{FdbSpec, VxlanOpts};
use crate::sriov::{PciAddr, VfParams, VfRecord};
use crate::state::{
    AddrSpec, BridgeOpts, DhcpClient, DhcpService, LinkKind, LinkSpec, MovedRoute, Owner,
    RouteSpec, SysctlKey, TapOpts, Tbf, VethPeer,
};
use crate::types::{IfName, IpCidr, Ipv4Cidr, MacAddr};
use crate::vif_guard::VifGuard;

/// The handle of hvnet's root qdiscs (`4856:`, "HV"): a root qdisc with another non-zero
/// handle was made by someone else and is never touched.
pub const HVNET_QDISC_HANDLE: u32 = 0x4856_0000;

/// The routing protocol number hvnet installs its routes with (`proto 104` for `ip`).
pub const RTPROT_HVNET: u8 = 104;

/// One kernel operation. Ops name links by interface name; the executor resolves names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Op {
    /// Create a bridge (down), tagged with its owner.
    CreateBridge {
        /// Name.
        name: IfName,
        /// Owner tag.
        owner: Owner,
        /// MTU.
        mtu: Option<u32>,
        /// Fixed MAC.
        mac: Option<MacAddr>,
        /// Options.
        opts: BridgeOpts,
    },
    /// Create a persistent TAP device (down), tagged with its owner.
    CreateTap {
        /// Name.
        name: IfName,
        /// Owner tag.
        owner: Owner,
        /// MTU.
        mtu: Option<u32>,
        /// Host-side MAC.
        mac: Option<MacAddr>,
        /// TAP flags and ownership.
        opts: TapOpts,
    },
    /// Create a veth pair whose peer goes into a named namespace.
    CreateVeth {
        /// Host-side name.
        name: IfName,
        /// Owner tag.
        owner: Owner,
        /// MTU of both ends.
        mtu: Option<u32>,
        /// Host-side MAC.
        mac: Option<MacAddr>,
        /// The peer.
        peer: VethPeer,
    },
    /// Create an IFB device (down), tagged with its owner.
    CreateIfb {
        /// Name.
        name: IfName,
        /// Owner tag.
        owner: Owner,
        /// MTU.
        mtu: Option<u32>,
    },
    /// Delete a link hvnet owns. `restore` describes it for a rollback (None: cannot be
    /// recreated, e.g. a veth whose peer namespace is unknown).
    DeleteLink {
        /// Name.
        name: IfName,
        /// How to recreate it.
        restore: Option<Box<Restore>>,
    },
    /// Make `link` a port of `master` (`None`: detach).
    SetMaster {
        /// The port.
        link: IfName,
        /// New master.
        master: Option<IfName>,
        /// Previous master, for the inverse.
        old: Option<IfName>,
    },
    /// Change the MTU.
    SetMtu {
        /// Link.
        link: IfName,
        /// New MTU.
        mtu: u32,
        /// Previous MTU.
        old: u32,
    },
    /// Change the MAC.
    SetMac {
        /// Link.
        link: IfName,
        /// New MAC.
        mac: MacAddr,
        /// Previous MAC.
        old: Option<MacAddr>,
    },
    /// Bring a link up or down.
    SetUp {
        /// Link.
        link: IfName,
        /// Up (true) or down.
        up: bool,
    },
    /// Set or clear (`None`) the alias.
    SetAlias {
        /// Link.
        link: IfName,
        /// New alias.
        alias: Option<String>,
        /// Previous alias.
        old: Option<String>,
    },
    /// Change bridge options.
    SetBridgeOpts {
        /// The bridge.
        link: IfName,
        /// New options.
        opts: BridgeOpts,
        /// Previous options.
        old: BridgeOpts,
    },
    /// Add an IPv4 address.
    AddAddr(AddrSpec),
    /// Remove an IPv4 address.
    DelAddr(AddrSpec),
    /// Add a route (protocol [`RTPROT_HVNET`]).
    AddRoute(RouteSpec),
    /// Remove a route.
    DelRoute(RouteSpec),
    /// Make a tbf (handle `4856:`) the root qdisc of a link, replacing hvnet's previous one.
    SetTbf {
        /// The link.
        link: IfName,
        /// The new bucket.
        tbf: Tbf,
        /// hvnet's previous root tbf, if any.
        old: Option<Tbf>,
    },
    /// Remove hvnet's root tbf from a link (the kernel's default qdisc returns).
    DelTbf {
        /// The link.
        link: IfName,
        /// The removed bucket, for the inverse.
        old: Tbf,
    },
    /// Add an ingress qdisc to `link` with a match-all filter redirecting to `ifb`.
    AddRedirect {
        /// The link whose received traffic is redirected.
        link: IfName,
        /// The IFB device.
        ifb: IfName,
    },
    /// Remove the ingress qdisc (and so the redirect) from `link`.
    DelRedirect {
        /// The link.
        link: IfName,
        /// The IFB device it redirected to, for the inverse.
        ifb: IfName,
    },
    /// Write a sysctl.
    SetSysctl {
        /// Key.
        key: SysctlKey,
        /// New value.
        value: String,
        /// Previous value.
        old: String,
    },
    /// Record a sysctl's original value in the state directory before hvnet first changes
    /// it, so that `down` can put it back.
    SaveSysctl {
        /// Key.
        key: SysctlKey,
        /// The original value.
        value: String,
    },
    /// Drop the record of a sysctl's original value (it has been restored).
    ForgetSysctl {
        /// Key.
        key: SysctlKey,
        /// The recorded value, for the inverse.
        value: String,
    },
    /// Turn hairpin mode of a bridge port on or off.
    SetHairpin {
        /// The port.
        link: IfName,
        /// On or off.
        on: bool,
    },
    /// Make hvnet's firewall serve exactly `intent` (the host's renderer writes it in one
    /// commit or undoes it) and hook it in.
    SetFirewall {
        /// The wanted intent.
        intent: Box<FirewallIntent>,
        /// What the firewall served before (`None`: it did not exist), for the inverse.
        old: Option<Box<FirewallIntent>>,
    },
    /// Remove hvnet's firewall (its tables, chains and jumps).
    RemoveFirewall {
        /// What it served, for the inverse.
        old: Option<Box<FirewallIntent>>,
    },
    /// Write a network's dnsmasq files and start the daemon.
    StartDhcp(Box<DhcpService>),
    /// Stop a network's dnsmasq.
    StopDhcp {
        /// The network.
        network: String,
        /// Its state directory.
        dir: std::path::PathBuf,
        /// The running daemon.
        pid: i32,
        /// Its files, to start it again on rollback.
        restore: Option<Box<DhcpService>>,
    },
    /// Move host addresses and their routes from one link to another: the routes and
    /// addresses go from `from`, then appear on `to` (routes with their own protocol).
    MoveHostIp {
        /// Where they are.
        from: IfName,
        /// Where they go.
        to: IfName,
        /// The addresses.
        addrs: Vec<Ipv4Cidr>,
        /// The routes through `from`.
        routes: Vec<MovedRoute>,
    },
    /// Write the hook of the host's DHCP client on a bridge and start the client.
    StartDhcpClient(Box<DhcpClient>),
    /// Stop the host's DHCP client of a network (its lease stays with the address).
    StopDhcpClient {
        /// The network.
        network: String,
        /// Its state directory.
        dir: std::path::PathBuf,
        /// The running client (0: read the pid file).
        pid: i32,
        /// How it was started, to start it again on rollback.
        restore: Option<Box<DhcpClient>>,
    },
    /// Rewrite a running dnsmasq's static-host file and send it `SIGHUP`.
    ReloadDhcpHosts {
        /// The network.
        network: String,
        /// Its state directory.
        dir: std::path::PathBuf,
        /// New contents.
        hosts: String,
        /// Previous contents.
        old: String,
    },
    /// Rename a link (the kernel renames only links that are down).
    RenameLink {
        /// Its name now.
        from: IfName,
        /// Its new name.
        to: IfName,
    },
    /// An op whose failure is a warning, not a failed transaction: what the stock Xen
    /// scripts run with `|| true` (a MAC or MTU a vif's driver refuses).
    BestEffort(Box<Op>),
    /// Make a Xen vif's own firewall rules exactly `guard` (`None`: none).
    SetVifGuard {
        /// The vif (or `-emu` tap).
        dev: IfName,
        /// The wanted guard.
        guard: Option<VifGuard>,
        /// The guard it had, for the inverse.
        old: Option<VifGuard>,
    },
    /// Edit a line-based file hvnet shares with others (the Xen NAT guests' dnsmasq
    /// `--dhcp-hostsfile`): remove the lines in `drop` and any line equal to one in `add`,
    /// then append `add`. Written to a temporary file and renamed into place.
    EditLines {
        /// The file.
        file: std::path::PathBuf,
        /// Lines to remove.
        drop: Vec<String>,
        /// Lines to append.
        add: Vec<String>,
    },
    /// Set attributes of an SR-IOV VF through its PF (`ip link set PF vf N …`).
    SetVf {
        /// The physical function's netdev.
        pf: IfName,
        /// The VF's index on it.
        vf: u32,
        /// What to set.
        set: VfParams,
        /// What those attributes were, for the inverse.
        old: VfParams,
    },
    /// Bind a PCI device (a VF) to `driver` through sysfs (`driver_override`, unbind, bind);
    /// `None` leaves it unbound.
    BindVf {
        /// The device.
        pci: PciAddr,
        /// The driver it gets.
        driver: Option<String>,
        /// The driver it had.
        old: Option<String>,
    },
    /// Write (or with `None` remove) hvnet's allocation record of a VF in the state
    /// directory.
    RecordVf {
        /// The VF.
        pci: PciAddr,
        /// The new record.
        record: Option<Box<VfRecord>>,
        /// The previous one, for the inverse.
        old: Option<Box<VfRecord>>,
    },
    /// Create a VXLAN device (down), tagged with its owner.
    CreateVxlan {
        /// Name.
        name: IfName,
        /// Owner tag.
        owner: Owner,
        /// MTU.
        mtu: Option<u32>,
        /// Fixed MAC.
        mac: Option<MacAddr>,
        /// VNI, local address, port, learning, underlay device.
        opts: VxlanOpts,
    },
    /// Add a forwarding entry to a VXLAN device (`bridge fdb append … self`).
    AddFdb(FdbSpec),
    /// Remove a forwarding entry from a VXLAN device.
    DelFdb(FdbSpec),
    /// Create a macvtap (down) on its lower device, tagged with its owner, and make its
    /// character device `/dev/tapN` exist with the wanted owner.
    CreateMacvtap {
        /// Name.
        name: IfName,
        /// Owner tag.
        owner: Owner,
        /// MTU.
        mtu: Option<u32>,
        /// The guest's MAC.
        mac: Option<MacAddr>,
        /// Lower device, mode and the owner of `/dev/tapN`.
        opts: MacvtapOpts,
    },
    /// Make a macvtap's `/dev/tapN` exist (from the device numbers the kernel gave the
    /// link) with this owner.
    SetTapNode {
        /// The macvtap.
        link: IfName,
        /// The wanted owner.
        node: TapNode,
        /// The previous owner (`None`: the node was missing or another device's).
        old: Option<TapNode>,
    },
    /// Make a backend other than the host's selected one serve `intent` (`None`: remove
    /// hvnet's firewall from it) — hvnet's rules left there by a backend switch go.
    FirewallOf {
        /// The backend.
        backend: FirewallKind,
        /// The wanted intent there (`None`: nothing).
        intent: Option<Box<FirewallIntent>>,
        /// What it served before, for the inverse.
        old: Option<Box<FirewallIntent>>,
    },
    /// Write hvnet's FRR configuration (zebra's and bgpd's) and start zebra and bgpd.
    StartFrr(Box<crate::evpn::FrrService>),
    /// Stop hvnet's zebra and bgpd (found by their configuration paths) and remove their
    /// configuration.
    StopFrr {
        /// Its directory.
        dir: std::path::PathBuf,
        /// Its files, to start it again on rollback.
        restore: Option<Box<crate::evpn::FrrService>>,
    },
    /// Turn address learning of a bridge port on or off (off: an EVPN VXLAN device's port,
    /// whose remote MACs come from BGP only).
    SetPortLearning {
        /// The port.
        link: IfName,
        /// On or off.
        on: bool,
    },
    /// Answer neighbour solicitations on `link` for `addr` (`ip -6 neigh replace proxy ADDR
    /// dev LINK`; the link's `proxy_ndp` must be on): a routed Xen guest on the LAN.
    AddProxyNdp {
        /// The device (the uplink).
        link: IfName,
        /// The guest's address.
        addr: std::net::Ipv6Addr,
    },
    /// Remove that proxy entry.
    DelProxyNdp {
        /// The device.
        link: IfName,
        /// The address.
        addr: std::net::Ipv6Addr,
    },
}

/// Everything needed to recreate a deleted link.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Restore {
    /// The link as it was.
    pub spec: LinkSpec,
    /// Its addresses (IPv4 and IPv6, link-local ones left to the kernel).
    pub addrs: Vec<IpCidr>,
    /// hvnet's root tbf on it, if any.
    #[serde(default)]
    pub tbf: Option<Tbf>,
    /// The IFB its received traffic was redirected to, if any (recreated first: hvnet
    /// deletes a redirected link before its IFB).
    #[serde(default)]
    pub redirect: Option<IfName>,
    /// Hairpin mode was on (a port).
    #[serde(default)]
    pub hairpin: bool,
    /// The static forwarding entries of a VXLAN device.
    #[serde(default)]
    pub fdb: Vec<FdbSpec>,
}

impl Op {
    /// The link an op is about, if any.
    pub fn link(&self) -> Option<&IfName> {
        match self {
            Self::CreateBridge { name, .. }
            | Self::CreateTap { name, .. }
            | Self::CreateVeth { name, .. }
            | Self::CreateIfb { name, .. }
            | Self::CreateMacvtap { name, .. }
            | Self::DeleteLink { name, .. } => Some(name),
            Self::SetTbf { link, .. }
            | Self::DelTbf { link, .. }
            | Self::AddRedirect { link, .. }
            | Self::DelRedirect { link, .. } => Some(link),
            Self::SetMaster { link, .. }
            | Self::SetMtu { link, .. }
            | Self::SetMac { link, .. }
            | Self::SetUp { link, .. }
            | Self::SetAlias { link, .. }
            | Self::SetBridgeOpts { link, .. } => Some(link),
            Self::AddAddr(a) | Self::DelAddr(a) => Some(&a.link),
            Self::AddRoute(r) | Self::DelRoute(r) => r.dev.as_ref(),
            Self::SetHairpin { link, .. } | Self::SetPortLearning { link, .. } => Some(link),
            Self::RenameLink { to, .. } => Some(to),
            Self::SetVifGuard { dev, .. } => Some(dev),
            Self::BestEffort(op) => op.link(),
            Self::EditLines { .. } | Self::StartFrr(_) | Self::StopFrr { .. } => None,
            Self::SetTapNode { link, .. } => Some(link),
            Self::MoveHostIp { to, .. } => Some(to),
            Self::CreateVxlan { name, .. } => Some(name),
            Self::AddFdb(e) | Self::DelFdb(e) => Some(&e.link),
            Self::AddProxyNdp { link, .. } | Self::DelProxyNdp { link, .. } => Some(link),
            Self::SetSysctl { .. }
            | Self::SaveSysctl { .. }
            | Self::ForgetSysctl { .. }
            | Self::SetFirewall { .. }
            | Self::RemoveFirewall { .. }
            | Self::FirewallOf { .. }
            | Self::StartDhcp(_)
            | Self::StopDhcp { .. }
            | Self::StartDhcpClient(_)
            | Self::StopDhcpClient { .. }
            | Self::ReloadDhcpHosts { .. } => None,
            Self::SetVf { pf, .. } => Some(pf),
            Self::BindVf { .. } | Self::RecordVf { .. } => None,
        }
    }

    /// Whether the op changes which links exist (creates or deletes one).
    pub fn is_create(&self) -> bool {
        matches!(
            self,
            Self::CreateBridge { .. }
                | Self::CreateTap { .. }
                | Self::CreateVeth { .. }
                | Self::CreateVxlan { .. }
                | Self::CreateMacvtap { .. }
        )
    }

    /// The ops that undo this one, in order. Empty when it cannot be undone (a deleted veth).
    ///
    /// ```
    /// use hvnet_core::op::Op;
    /// use hvnet_core::types::IfName;
    /// let link = IfName::new("vnet0").unwrap();
    /// let op = Op::SetMtu { link: link.clone(), mtu: 9000, old: 1500 };
    /// assert_eq!(op.inverse(), vec![Op::SetMtu { link, mtu: 1500, old: 9000 }]);
    /// ```
    pub fn inverse(&self) -> Vec<Op> {
        match self {
            Self::CreateBridge { name, .. }
            | Self::CreateTap { name, .. }
            | Self::CreateVeth { name, .. }
            | Self::CreateIfb { name, .. }
            | Self::CreateVxlan { name, .. }
            | Self::CreateMacvtap { name, .. } => {
                vec![Self::DeleteLink {
                    name: name.clone(),
                    restore: None,
                }]
            }
            Self::DeleteLink { restore, .. } => {
                restore.as_deref().map(Restore::ops).unwrap_or_default()
            }
            Self::SetMaster { link, master, old } => vec![Self::SetMaster {
                link: link.clone(),
                master: old.clone(),
                old: master.clone(),
            }],
            Self::SetMtu { link, mtu, old } => vec![Self::SetMtu {
                link: link.clone(),
                mtu: *old,
                old: *mtu,
            }],
            Self::SetMac { link, mac, old } => match old {
                Some(o) => vec![Self::SetMac {
                    link: link.clone(),
                    mac: *o,
                    old: Some(*mac),
                }],
                None => vec![],
            },
            Self::SetUp { link, up } => vec![Self::SetUp {
                link: link.clone(),
                up: !up,
            }],
            Self::SetAlias { link, alias, old } => vec![Self::SetAlias {
                link: link.clone(),
                alias: old.clone(),
                old: alias.clone(),
            }],
            Self::SetBridgeOpts { link, opts, old } => vec![Self::SetBridgeOpts {
                link: link.clone(),
                opts: *old,
                old: *opts,
            }],
            Self::SetTbf { link, tbf, old } => match old {
                Some(o) => vec![Self::SetTbf {
                    link: link.clone(),
                    tbf: *o,
                    old: Some(*tbf),
                }],
                None => vec![Self::DelTbf {
                    link: link.clone(),
                    old: *tbf,
                }],
            },
            Self::DelTbf { link, old } => vec![Self::SetTbf {
                link: link.clone(),
                tbf: *old,
                old: None,
            }],
            Self::AddRedirect { link, ifb } => vec![Self::DelRedirect {
                link: link.clone(),
                ifb: ifb.clone(),
            }],
            Self::DelRedirect { link, ifb } => vec![Self::AddRedirect {
                link: link.clone(),
                ifb: ifb.clone(),
            }],
            Self::AddAddr(a) => vec![Self::DelAddr(a.clone())],
            Self::DelAddr(a) => vec![Self::AddAddr(a.clone())],
            Self::AddRoute(r) => vec![Self::DelRoute(r.clone())],
            Self::DelRoute(r) => vec![Self::AddRoute(r.clone())],
            // The key did not exist (a link's, made in the same transaction): nothing to
            // put back, the key goes with its link.
            Self::SetSysctl { old, .. } if old.is_empty() => Vec::new(),
            Self::SetSysctl { key, value, old } => vec![Self::SetSysctl {
                key: key.clone(),
                value: old.clone(),
                old: value.clone(),
            }],
            Self::MoveHostIp {
                from,
                to,
                addrs,
                routes,
            } => vec![Self::MoveHostIp {
                from: to.clone(),
                to: from.clone(),
                addrs: addrs.clone(),
                routes: routes.clone(),
            }],
            Self::SaveSysctl { key, value } => vec![Self::ForgetSysctl {
                key: key.clone(),
                value: value.clone(),
            }],
            Self::ForgetSysctl { key, value } => vec![Self::SaveSysctl {
                key: key.clone(),
                value: value.clone(),
            }],
            Self::SetHairpin { link, on } => vec![Self::SetHairpin {
                link: link.clone(),
                on: !on,
            }],
            Self::SetFirewall { intent, old } => match old {
                Some(o) => vec![Self::SetFirewall {
                    intent: o.clone(),
                    old: Some(intent.clone()),
                }],
                None => vec![Self::RemoveFirewall {
                    old: Some(intent.clone()),
                }],
            },
            Self::RemoveFirewall { old } => match old {
                Some(o) => vec![Self::SetFirewall {
                    intent: o.clone(),
                    old: None,
                }],
                None => vec![],
            },
            Self::FirewallOf {
                backend,
                intent,
                old,
            } => vec![Self::FirewallOf {
                backend: *backend,
                intent: old.clone(),
                old: intent.clone(),
            }],
            Self::StartDhcp(svc) => vec![Self::StopDhcp {
                network: svc.network.clone(),
                dir: svc.dir.clone(),
                // The executor finds the pid in the pid file it just started.
                pid: 0,
                restore: None,
            }],
            Self::StopDhcp { restore, .. } => restore
                .as_ref()
                .map(|svc| vec![Self::StartDhcp(svc.clone())])
                .unwrap_or_default(),
            Self::StartDhcpClient(c) => vec![Self::StopDhcpClient {
                network: c.network.clone(),
                dir: c.dir.clone(),
                pid: 0,
                restore: None,
            }],
            Self::StopDhcpClient { restore, .. } => restore
                .as_ref()
                .map(|c| vec![Self::StartDhcpClient(c.clone())])
                .unwrap_or_default(),
            Self::ReloadDhcpHosts {
                network,
                dir,
                hosts,
                old,
            } => vec![Self::ReloadDhcpHosts {
                network: network.clone(),
                dir: dir.clone(),
                hosts: old.clone(),
                old: hosts.clone(),
            }],
            Self::RenameLink { from, to } => vec![Self::RenameLink {
                from: to.clone(),
                to: from.clone(),
            }],
            Self::BestEffort(op) => op
                .inverse()
                .into_iter()
                .map(|o| Self::BestEffort(Box::new(o)))
                .collect(),
            Self::SetVifGuard { dev, guard, old } => vec![Self::SetVifGuard {
                dev: dev.clone(),
                guard: old.clone(),
                old: guard.clone(),
            }],
            Self::EditLines { file, drop, add } => vec![Self::EditLines {
                file: file.clone(),
                drop: add.clone(),
                add: drop.clone(),
            }],
            Self::SetVf { pf, vf, set, old } => vec![Self::SetVf {
                pf: pf.clone(),
                vf: *vf,
                set: *old,
                old: *set,
            }],
            Self::BindVf { pci, driver, old } => vec![Self::BindVf {
                pci: *pci,
                driver: old.clone(),
                old: driver.clone(),
            }],
            Self::RecordVf { pci, record, old } => vec![Self::RecordVf {
                pci: *pci,
                record: old.clone(),
                old: record.clone(),
            }],
            Self::AddFdb(e) => vec![Self::DelFdb(e.clone())],
            Self::DelFdb(e) => vec![Self::AddFdb(e.clone())],
            Self::SetPortLearning { link, on } => vec![Self::SetPortLearning {
                link: link.clone(),
                on: !on,
            }],
            Self::StartFrr(svc) => vec![Self::StopFrr {
                dir: svc.dir.clone(),
                restore: None,
            }],
            Self::StopFrr { restore, .. } => restore
                .as_ref()
                .map(|svc| vec![Self::StartFrr(svc.clone())])
                .unwrap_or_default(),
            Self::AddProxyNdp { link, addr } => vec![Self::DelProxyNdp {
                link: link.clone(),
                addr: *addr,
            }],
            Self::DelProxyNdp { link, addr } => vec![Self::AddProxyNdp {
                link: link.clone(),
                addr: *addr,
            }],
            Self::SetTapNode { link, node, old } => match old {
                Some(o) => vec![Self::SetTapNode {
                    link: link.clone(),
                    node: *o,
                    old: Some(*node),
                }],
                // A node made where none was stays: it is the link's own device.
                None => vec![],
            },
        }
    }

    /// The equivalent iproute2/sysctl command line (one line, `&&`-joined where one op is
    /// several commands), as `hvnet apply --dry-run` prints it.
    pub fn command(&self) -> String {
        CommandLine(self).to_string()
    }
}

impl Restore {
    /// The ops that recreate the link as it was.
    pub fn ops(&self) -> Vec<Op> {
        let s = &self.spec;
        let Some(owner) = s.owner.clone() else {
            return vec![];
        };
        let mut ops = match &s.kind {
            LinkKind::Bridge(opts) => vec![Op::CreateBridge {
                name: s.name.clone(),
                owner,
                mtu: s.mtu,
                mac: s.mac,
                opts: *opts,
            }],
            LinkKind::Tap(opts) => vec![Op::CreateTap {
                name: s.name.clone(),
                owner,
                mtu: s.mtu,
                mac: s.mac,
                opts: *opts,
            }],
            LinkKind::Veth(peer) => vec![Op::CreateVeth {
                name: s.name.clone(),
                owner,
                mtu: s.mtu,
                mac: s.mac,
                peer: peer.clone(),
            }],
            LinkKind::Ifb => vec![Op::CreateIfb {
                name: s.name.clone(),
                owner,
                mtu: s.mtu,
            }],
            LinkKind::Macvtap(opts) => vec![Op::CreateMacvtap {
                name: s.name.clone(),
                owner,
                mtu: s.mtu,
                mac: s.mac,
                opts: opts.clone(),
            }],
            LinkKind::External => return vec![],
            LinkKind::Vxlan(opts) => vec![Op::CreateVxlan {
                name: s.name.clone(),
                owner,
                mtu: s.mtu,
                mac: s.mac,
                opts: opts.clone(),
            }],
        };
        if let Some(m) = &s.master {
            ops.push(Op::SetMaster {
                link: s.name.clone(),
                master: Some(m.clone()),
                old: None,
            });
        }
        if s.up {
            ops.push(Op::SetUp {
                link: s.name.clone(),
                up: true,
            });
        }
        ops.extend(self.addrs.iter().map(|c| {
            Op::AddAddr(AddrSpec {
                link: s.name.clone(),
                cidr: *c,
            })
        }));
        if self.hairpin && s.master.is_some() {
            ops.push(Op::SetHairpin {
                link: s.name.clone(),
                on: true,
            });
        }
        if let Some(tbf) = self.tbf {
            ops.push(Op::SetTbf {
                link: s.name.clone(),
                tbf,
                old: None,
            });
        }
        if let Some(ifb) = &self.redirect {
            ops.push(Op::AddRedirect {
                link: s.name.clone(),
                ifb: ifb.clone(),
            });
        }
        ops.extend(self.fdb.iter().cloned().map(Op::AddFdb));
        ops
    }
}

/// "flood peer" for the all-zero entry, else "MAC … via".
fn fdb_what(e: &FdbSpec) -> String {
    if e.mac == crate::overlay::FLOOD_MAC {
        "flood peer".into()
    } else {
        format!("fdb entry {} via", e.mac)
    }
}

fn onoff(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

impl fmt::Display for Op {
    /// Human text, e.g. `create bridge virbr2 (hvnet:hostntw, mtu 1500, stp off, forward delay 0.00 s)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let extra = |mtu: &Option<u32>, mac: &Option<MacAddr>| {
            let mut s = String::new();
            if let Some(m) = mac {
                s.push_str(&format!(", mac {m}"));
            }
            if let Some(m) = mtu {
                s.push_str(&format!(", mtu {m}"));
            }
            s
        };
        match self {
            Self::CreateBridge {
                name,
                owner,
                mtu,
                mac,
                opts,
            } => write!(
                f,
                "create bridge {name} ({owner}{}, stp {}, forward delay {}.{:02} s)",
                extra(mtu, mac),
                onoff(opts.stp),
                opts.forward_delay_cs / 100,
                opts.forward_delay_cs % 100
            ),
            Self::CreateTap {
                name,
                owner,
                mtu,
                mac,
                opts,
            } => write!(
                f,
                "create tap {name} ({owner}{}, vnet_hdr {}{})",
                extra(mtu, mac),
                onoff(opts.vnet_hdr),
                if opts.multi_queue { ", multiqueue" } else { "" }
            ),
            Self::CreateVeth {
                name,
                owner,
                mtu,
                mac,
                peer,
            } => write!(
                f,
                "create veth {name} ({owner}{}) with peer {} in namespace {}",
                extra(mtu, mac),
                peer.name,
                peer.netns
            ),
            Self::CreateIfb { name, owner, mtu } => {
                write!(f, "create ifb {name} ({owner}{})", extra(mtu, &None))
            }
            Self::CreateVxlan {
                name,
                owner,
                mtu,
                mac,
                opts,
            } => write!(
                f,
                "create vxlan {name} ({owner}{}, vni {}, local {}, port {}, learning {}{})",
                extra(mtu, mac),
                opts.vni,
                opts.local,
                opts.port,
                onoff(opts.learning),
                opts.underlay
                    .as_ref()
                    .map(|u| format!(", underlay {u}"))
                    .unwrap_or_default()
            ),
            Self::AddFdb(e) => write!(f, "add {} {} to {}", fdb_what(e), e.dst, e.link),
            Self::DelFdb(e) => write!(f, "remove {} {} from {}", fdb_what(e), e.dst, e.link),
            Self::AddProxyNdp { link, addr } => {
                write!(f, "answer neighbour solicitations for {addr} on {link}")
            }
            Self::DelProxyNdp { link, addr } => {
                write!(
                    f,
                    "stop answering neighbour solicitations for {addr} on {link}"
                )
            }
            Self::SetTbf { link, tbf, old } => match old {
                Some(o) => write!(f, "limit {link} egress to {tbf} (was {o})"),
                None => write!(f, "limit {link} egress to {tbf}"),
            },
            Self::DelTbf { link, .. } => write!(f, "remove the egress limit of {link}"),
            Self::AddRedirect { link, ifb } => write!(f, "redirect what {link} receives to {ifb}"),
            Self::DelRedirect { link, ifb } => {
                write!(f, "stop redirecting what {link} receives to {ifb}")
            }
            Self::DeleteLink { name, .. } => write!(f, "delete {name}"),
            Self::SetMaster {
                link,
                master: Some(m),
                ..
            } => write!(f, "attach {link} to {m}"),
            Self::SetMaster {
                link,
                master: None,
                old,
            } => match old {
                Some(o) => write!(f, "detach {link} from {o}"),
                None => write!(f, "detach {link}"),
            },
            Self::SetMtu { link, mtu, old } => write!(f, "set mtu of {link} to {mtu} (was {old})"),
            Self::SetMac { link, mac, old } => match old {
                Some(o) => write!(f, "set mac of {link} to {mac} (was {o})"),
                None => write!(f, "set mac of {link} to {mac}"),
            },
            Self::SetUp { link, up } => {
                write!(f, "bring {link} {}", if *up { "up" } else { "down" })
            }
            Self::SetAlias { link, alias, .. } => match alias {
                Some(a) => write!(f, "set alias of {link} to {a:?}"),
                None => write!(f, "clear alias of {link}"),
            },
            Self::SetBridgeOpts { link, opts, .. } => write!(
                f,
                "set bridge {link} stp {}, forward delay {}.{:02} s",
                onoff(opts.stp),
                opts.forward_delay_cs / 100,
                opts.forward_delay_cs % 100
            ),
            Self::AddAddr(a) => write!(f, "add address {} to {}", a.cidr, a.link),
            Self::DelAddr(a) => write!(f, "remove address {} from {}", a.cidr, a.link),
            Self::AddRoute(r) => write!(f, "add route {}", RouteText(r)),
            Self::DelRoute(r) => write!(f, "remove route {}", RouteText(r)),
            Self::SetSysctl { key, value, old } => {
                write!(f, "set sysctl {key} = {value} (was {old})")
            }
            Self::SaveSysctl { key, value } => {
                write!(f, "remember sysctl {key} = {value} for `down`")
            }
            Self::ForgetSysctl { key, .. } => write!(f, "forget the saved value of sysctl {key}"),
            Self::SetHairpin { link, on } => write!(f, "set hairpin {} on port {link}", onoff(*on)),
            Self::MoveHostIp {
                from,
                to,
                addrs,
                routes,
            } => {
                let a: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
                write!(
                    f,
                    "move the host's addresses [{}] and {} route(s) from {from} to {to}",
                    a.join(", "),
                    routes.len()
                )
            }
            Self::SetFirewall { intent, .. } => write!(
                f,
                "write hvnet's firewall ({} network(s), {} port forward(s))",
                intent.networks().len(),
                intent.forwards().len()
            ),
            Self::RemoveFirewall { .. } => write!(f, "remove hvnet's firewall"),
            Self::FirewallOf {
                backend,
                intent: None,
                ..
            } => write!(f, "remove hvnet's firewall left in {backend}"),
            Self::FirewallOf {
                backend,
                intent: Some(i),
                ..
            } => write!(
                f,
                "write hvnet's firewall in {backend} ({} network(s), {} port forward(s))",
                i.networks().len(),
                i.forwards().len()
            ),
            Self::StartDhcp(svc) => write!(f, "start dnsmasq for network {}", svc.network),
            Self::SetPortLearning { link, on } => write!(
                f,
                "turn address learning of bridge port {link} {}",
                onoff(*on)
            ),
            Self::StartFrr(svc) => write!(
                f,
                "start FRR (zebra, bgpd) for the EVPN overlays in {}",
                svc.dir.display()
            ),
            Self::StopFrr { dir, .. } => write!(
                f,
                "stop hvnet's FRR (zebra, bgpd) and remove its configuration from {}",
                dir.display()
            ),
            Self::StartDhcpClient(c) => write!(
                f,
                "start the host's DHCP client on {} (network {})",
                c.interface, c.network
            ),
            Self::StopDhcpClient { network, pid, .. } => {
                write!(
                    f,
                    "stop the host's DHCP client of network {network} (pid {pid})"
                )
            }
            Self::StopDhcp { network, pid, .. } => {
                write!(f, "stop dnsmasq of network {network} (pid {pid})")
            }
            Self::ReloadDhcpHosts { network, hosts, .. } => write!(
                f,
                "rewrite the DHCP hosts of network {network} ({} entries) and reload dnsmasq",
                hosts.lines().count()
            ),
            Self::RenameLink { from, to } => write!(f, "rename {from} to {to}"),
            Self::BestEffort(op) => write!(f, "{op} (best effort)"),
            Self::SetVifGuard { dev, guard, .. } => match guard {
                Some(g) => write!(f, "set the firewall of vif {dev}: {g}"),
                None => write!(f, "remove the firewall of vif {dev}"),
            },
            Self::EditLines { file, drop, add } => write!(
                f,
                "edit {}: {} line(s) out, {} in",
                file.display(),
                drop.len(),
                add.len()
            ),
            Self::SetVf { pf, vf, set, .. } => write!(f, "set {pf} vf {vf} {set}"),
            Self::BindVf { pci, driver, old } => match (driver, old) {
                (Some(d), Some(o)) => write!(f, "bind VF {pci} to {d} (was {o})"),
                (Some(d), None) => write!(f, "bind VF {pci} to {d}"),
                (None, Some(o)) => write!(f, "unbind VF {pci} from {o}"),
                (None, None) => write!(f, "leave VF {pci} unbound"),
            },
            Self::RecordVf { pci, record, .. } => match record.as_deref() {
                Some(r) if r.active => write!(
                    f,
                    "allocate VF {pci} ({} vf {}) of network {} to guest {} nic {}",
                    r.pf, r.vf, r.pool, r.guest, r.nic
                ),
                Some(r) => write!(
                    f,
                    "release VF {pci} ({} vf {}) of guest {} nic {}",
                    r.pf, r.vf, r.guest, r.nic
                ),
                None => write!(f, "forget the allocation record of VF {pci}"),
            },
            Self::CreateMacvtap {
                name,
                owner,
                mtu,
                mac,
                opts,
            } => write!(
                f,
                "create macvtap {name} on {} ({owner}, mode {}{}, /dev/tapN {}:{})",
                opts.lower,
                opts.mode,
                extra(mtu, mac),
                opts.node_owner().uid,
                opts.node_owner().gid
            ),
            Self::SetTapNode { link, node, .. } => write!(
                f,
                "make the device node of {link} owned by {}:{}",
                node.uid, node.gid
            ),
        }
    }
}

/// A moved route without its device, as `ip route` takes it.
struct MovedText<'a>(&'a MovedRoute);

impl fmt::Display for MovedText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        write!(f, "{}", r.dst)?;
        if let Some(g) = r.gateway {
            write!(f, " via {g}")?;
        }
        if let Some(s) = r.src {
            write!(f, " src {s}")?;
        }
        if let Some(m) = r.metric {
            write!(f, " metric {m}")?;
        }
        if r.table != crate::state::MAIN_TABLE {
            write!(f, " table {}", r.table)?;
        }
        Ok(())
    }
}

struct RouteText<'a>(&'a RouteSpec);

impl fmt::Display for RouteText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        write!(f, "{}", r.dst)?;
        if let Some(g) = r.gateway {
            write!(f, " via {g}")?;
        }
        if let Some(d) = &r.dev {
            write!(f, " dev {d}")?;
        }
        if let Some(s) = r.src {
            write!(f, " src {s}")?;
        }
        if let Some(m) = r.metric {
            write!(f, " metric {m}")?;
        }
        if r.table != crate::state::MAIN_TABLE {
            write!(f, " table {}", r.table)?;
        }
        Ok(())
    }
}

struct CommandLine<'a>(&'a Op);

impl fmt::Display for CommandLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt =
            |word: &str, v: Option<String>| v.map(|v| format!(" {word} {v}")).unwrap_or_default();
        match self.0 {
            Op::CreateBridge { name, owner, mtu, mac, opts } => write!(
                f,
                "ip link add name {name}{}{} type bridge stp_state {} forward_delay {} && ip link set dev {name} alias {}",
                opt("address", mac.map(|m| m.to_string())),
                opt("mtu", mtu.map(|m| m.to_string())),
                u8::from(opts.stp),
                opts.forward_delay_cs,
                owner.tag()
            ),
            Op::CreateTap { name, owner, mtu, mac, opts } => write!(
                f,
                "ip tuntap add dev {name} mode tap{}{}{}{} && ip link set dev {name}{}{} alias {}",
                if opts.vnet_hdr { " vnet_hdr" } else { "" },
                if opts.multi_queue { " multi_queue" } else { "" },
                opt("user", opts.uid.map(|u| u.to_string())),
                opt("group", opts.gid.map(|g| g.to_string())),
                opt("address", mac.map(|m| m.to_string())),
                opt("mtu", mtu.map(|m| m.to_string())),
                owner.tag()
            ),
            Op::CreateVeth { name, owner, mtu, mac, peer } => write!(
                f,
                "ip link add name {name}{}{} type veth peer name {}{}{} netns {} && ip link set dev {name} alias {}",
                opt("address", mac.map(|m| m.to_string())),
                opt("mtu", mtu.map(|m| m.to_string())),
                peer.name,
                opt("address", peer.mac.map(|m| m.to_string())),
                opt("mtu", mtu.map(|m| m.to_string())),
                peer.netns,
                owner.tag()
            ),
            Op::CreateIfb { name, owner, mtu } => write!(
                f,
                "ip link add name {name}{} type ifb && ip link set dev {name} alias {}",
                opt("mtu", mtu.map(|m| m.to_string())),
                owner.tag()
            ),
            Op::SetTbf { link, tbf, .. } => write!(
                f,
                "tc qdisc replace dev {link} root handle 4856: tbf rate {}bit burst {}b limit {}b",
                tbf.rate_bytes_per_sec.saturating_mul(8),
                tbf.burst_bytes,
                tbf.limit_bytes
            ),
            Op::DelTbf { link, .. } => write!(f, "tc qdisc del dev {link} root handle 4856:"),
            Op::AddRedirect { link, ifb } => write!(
                f,
                "tc qdisc add dev {link} handle ffff: ingress && tc filter add dev {link} parent ffff: protocol all prio 1 u32 match u32 0 0 action mirred egress redirect dev {ifb}"
            ),
            Op::DelRedirect { link, .. } => write!(f, "tc qdisc del dev {link} handle ffff: ingress"),
            Op::DeleteLink { name, .. } => write!(f, "ip link del dev {name}"),
            Op::SetMaster { link, master, .. } => match master {
                Some(m) => write!(f, "ip link set dev {link} master {m}"),
                None => write!(f, "ip link set dev {link} nomaster"),
            },
            Op::SetMtu { link, mtu, .. } => write!(f, "ip link set dev {link} mtu {mtu}"),
            Op::SetMac { link, mac, .. } => write!(f, "ip link set dev {link} address {mac}"),
            Op::SetUp { link, up } => write!(f, "ip link set dev {link} {}", if *up { "up" } else { "down" }),
            Op::SetAlias { link, alias, .. } => match alias {
                Some(a) => write!(f, "ip link set dev {link} alias '{a}'"),
                None => write!(f, "ip link set dev {link} alias ''"),
            },
            Op::SetBridgeOpts { link, opts, .. } => write!(
                f,
                "ip link set dev {link} type bridge stp_state {} forward_delay {}",
                u8::from(opts.stp),
                opts.forward_delay_cs
            ),
            Op::AddAddr(a) if a.cidr.is_ipv4() => {
                write!(f, "ip addr add {} brd + dev {}", a.cidr, a.link)
            }
            Op::AddAddr(a) => write!(f, "ip addr add {} dev {} nodad", a.cidr, a.link),
            Op::DelAddr(a) => write!(f, "ip addr del {} dev {}", a.cidr, a.link),
            Op::AddRoute(r) => write!(f, "ip route add {} proto {}", RouteText(r), r.protocol),
            Op::DelRoute(r) => write!(f, "ip route del {} proto {}", RouteText(r), r.protocol),
            Op::SetSysctl { key, value, .. } => write!(f, "sysctl -w {key}={value}"),
            Op::SaveSysctl { key, value } => write!(f, "# remember {key}={value}"),
            Op::ForgetSysctl { key, .. } => write!(f, "# forget the saved {key}"),
            Op::SetHairpin { link, on } => {
                write!(f, "bridge link set dev {link} hairpin {}", onoff(*on))
            }
            Op::SetPortLearning { link, on } => {
                write!(f, "bridge link set dev {link} learning {}", onoff(*on))
            }
            Op::MoveHostIp {
                from,
                to,
                addrs,
                routes,
            } => {
                let mut parts = Vec::new();
                for r in routes {
                    parts.push(format!("ip route del {} dev {from}", MovedText(r)));
                }
                for a in addrs {
                    parts.push(format!("ip addr del {a} dev {from}"));
                }
                for a in addrs {
                    parts.push(format!("ip addr add {a} brd + dev {to}"));
                }
                for r in routes {
                    parts.push(format!("ip route add {} dev {to} proto {}", MovedText(r), r.protocol));
                }
                f.write_str(&parts.join(" && "))
            }
            // The tool's commands depend on the host's renderer: hvnet-linux prints them
            // (`hvnet_linux::firewall::Firewall::command`); this is the neutral form.
            Op::SetFirewall { intent, .. } => {
                write!(f, "# hvnet writes its firewall for:")?;
                for d in intent.descriptors() {
                    write!(f, " [{d}]")?;
                }
                Ok(())
            }
            Op::RemoveFirewall { .. } => write!(f, "# hvnet removes its firewall"),
            Op::FirewallOf { backend, .. } => {
                write!(f, "# hvnet rewrites or removes its firewall in {backend}")
            }
            Op::StartDhcp(svc) => write!(
                f,
                "dnsmasq --conf-file={}",
                svc.dir.join(crate::dhcp::CONF_FILE).display()
            ),
            Op::StopDhcp { pid, .. } => write!(f, "kill {pid}"),
            Op::StartFrr(svc) => {
                let d = svc.dir.display();
                write!(f, "/usr/lib/frr/zebra -d -f {d}/zebra.conf -i {d}/zebra.pid -z {d}/zserv.api --vty_socket {d} -u root -g frrvty -P 0 && /usr/lib/frr/bgpd -d -f {d}/bgpd.conf -i {d}/bgpd.pid -z {d}/zserv.api --vty_socket {d} -u root -g frrvty -P 0")
            }
            Op::StopFrr { dir, .. } => {
                let d = dir.display();
                write!(f, "kill $(cat {d}/bgpd.pid {d}/zebra.pid) && rm {d}/zebra.conf {d}/bgpd.conf")
            }
            Op::StartDhcpClient(c) => write!(
                f,
                "udhcpc -f -i {} -s {} -p {}",
                c.interface,
                c.dir.join(crate::services::CLIENT_HOOK).display(),
                c.dir.join(crate::services::CLIENT_PID).display()
            ),
            Op::StopDhcpClient { dir, .. } => write!(
                f,
                "kill $(cat {})",
                dir.join(crate::services::CLIENT_PID).display()
            ),
            Op::ReloadDhcpHosts { dir, .. } => write!(
                f,
                "kill -HUP $(cat {})",
                dir.join(crate::dhcp::PID_FILE).display()
            ),
            Op::RenameLink { from, to } => write!(f, "ip link set dev {from} name {to}"),
            Op::BestEffort(op) => write!(f, "{{ {}; }} || true", CommandLine(op)),
            Op::SetVifGuard { dev, guard, .. } => match guard {
                Some(g) => write!(f, "# firewall of vif {dev}: {g}"),
                None => write!(f, "# remove the firewall of vif {dev}"),
            },
            Op::EditLines { file, drop, add } => write!(
                f,
                "# edit {}: -{} +{} line(s)",
                file.display(),
                drop.len(),
                add.len()
            ),
            Op::SetVf { pf, vf, set, .. } => write!(f, "ip link set dev {pf} vf {vf} {set}"),
            Op::BindVf { pci, driver, old } => {
                let dev = format!("/sys/bus/pci/devices/{pci}");
                // vfio-pci has no ID table: it takes a device only through the override;
                // any other driver is bound by name with the override cleared.
                let over = driver.as_deref().filter(|d| *d == crate::sriov::VFIO_PCI);
                let mut parts = vec![format!(
                    "echo '{}' > {dev}/driver_override",
                    over.unwrap_or("")
                )];
                if let Some(o) = old {
                    parts.push(format!("echo {pci} > /sys/bus/pci/drivers/{o}/unbind"));
                }
                if let Some(d) = driver {
                    parts.push(format!("echo {pci} > /sys/bus/pci/drivers/{d}/bind"));
                }
                f.write_str(&parts.join(" && "))
            }
            Op::RecordVf { pci, record, .. } => match record {
                Some(_) => write!(f, "# record the allocation of VF {pci}"),
                None => write!(f, "# forget the allocation of VF {pci}"),
            },
            Op::CreateVxlan { name, owner, mtu, mac, opts } => write!(
                f,
                "ip link add name {name}{}{} type vxlan id {} local {} dstport {}{}{} && ip link set dev {name} alias {}",
                opt("address", mac.map(|m| m.to_string())),
                opt("mtu", mtu.map(|m| m.to_string())),
                opts.vni,
                opts.local,
                opts.port,
                if opts.learning { "" } else { " nolearning" },
                opt("dev", opts.underlay.as_ref().map(ToString::to_string)),
                owner.tag()
            ),
            Op::AddFdb(e) => write!(f, "bridge fdb append {} dev {} dst {} self permanent", e.mac, e.link, e.dst),
            Op::DelFdb(e) => write!(f, "bridge fdb del {} dev {} dst {} self", e.mac, e.link, e.dst),
            Op::CreateMacvtap { name, owner, mtu, mac, opts } => write!(
                f,
                "ip link add link {} name {name}{}{} type macvtap mode {} && ip link set dev {name} alias {} && chown {}:{} /dev/tap$(cat /sys/class/net/{name}/ifindex)",
                opts.lower,
                opt("address", mac.map(|m| m.to_string())),
                opt("mtu", mtu.map(|m| m.to_string())),
                opts.mode.ip_word(),
                owner.tag(),
                opts.node_owner().uid,
                opts.node_owner().gid
            ),
            Op::SetTapNode { link, node, .. } => write!(
                f,
                "chown {}:{} /dev/tap$(cat /sys/class/net/{link}/ifindex)",
                node.uid, node.gid
            ),
            Op::AddProxyNdp { link, addr } => write!(f, "ip -6 neigh replace proxy {addr} dev {link}"),
            Op::DelProxyNdp { link, addr } => write!(f, "ip -6 neigh del proxy {addr} dev {link}"),
        }
    }
}
