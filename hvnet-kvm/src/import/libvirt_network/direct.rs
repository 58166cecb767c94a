//! `<forward mode='bridge'|'vepa'|'private'|'passthrough'>` with `<interface dev=…>`:
//! libvirt's macvtap networks, imported as `kind = "direct"`.

use hvnet_core::macvtap::MacvtapMode;
use hvnet_core::types::IfName;
use roxmltree::Node;

use super::{Bandwidth, Forward, ForwardMode, LibvirtNetwork, Reader};

impl Reader<'_, '_> {
    /// The `<forward>` of a direct mode: its `<interface dev>` list (`dev=` alone is a
    /// list of one, as libvirt reads it).
    pub(super) fn direct_forward(&mut self, f: Node<'_, '_>, mode: MacvtapMode) -> Option<Forward> {
        let dev = self.attr(f, "dev", |v| IfName::new(v).map_err(|e| e.to_string()));
        self.other_attrs(f, &["mode", "dev"], &[]);
        let mut interfaces: Vec<IfName> = Vec::new();
        for c in f.children().filter(Node::is_element) {
            match c.tag_name().name() {
                "interface" => {
                    self.other_attrs(
                        c,
                        &["dev"],
                        &[(
                            "connections",
                            "libvirt's count of guests on it, a run-time value",
                        )],
                    );
                    let Some(d) = self.req(c, "dev", |v| IfName::new(v).map_err(|e| e.to_string()))
                    else {
                        continue;
                    };
                    if interfaces.contains(&d) {
                        self.err(c, format!("interface {:?} is listed twice", d.as_str()));
                    } else {
                        interfaces.push(d);
                    }
                }
                other => self.skip(
                    c,
                    format!(
                        "<{other}> is not used by hvnet with forward mode {}",
                        mode.as_str()
                    ),
                ),
            }
        }
        // libvirt: `dev` names the first interface of the pool.
        if let Some(d) = dev {
            if !interfaces.contains(&d) {
                interfaces.insert(0, d);
            }
        }
        if interfaces.is_empty() {
            let bridged = mode == MacvtapMode::Bridge
                && f.parent()
                    .is_some_and(|p| p.children().any(|c| c.has_tag_name("bridge")));
            let why = if bridged {
                "forward mode 'bridge' with a <bridge name> and no <interface dev> puts guests on an existing host bridge: define that bridge in hvnet as a network of kind = \"bridge\" instead"
            } else {
                "a macvtap network needs the devices its guests sit on: <interface dev='…'/> (or dev='…')"
            };
            self.err(f, why);
            return None;
        }
        Some(Forward {
            mode: ForwardMode::Direct(mode),
            dev: None,
            nat_ports: None,
            interfaces,
        })
    }

    /// The network of a direct `<forward>`: what hvnet would serve on a bridge (addresses,
    /// DHCP, DNS, the bridge's MAC, aggregate limits) is warned, not imported.
    pub(super) fn direct(
        &mut self,
        root: Node<'_, '_>,
        name: String,
        forward: Forward,
        mtu: Option<u32>,
    ) -> Option<LibvirtNetwork> {
        for c in root.children().filter(Node::is_element) {
            let why = match c.tag_name().name() {
                "bridge" => "a macvtap network has no bridge",
                "mac" => "a macvtap network has no bridge to give a MAC",
                "ip" | "dhcp" | "dns" | "domain" => {
                    "the guests of a macvtap network are on the uplink's LAN: hvnet serves no address, DHCP or DNS there (in bridge or vepa mode they could not reach this host anyway)"
                }
                "bandwidth" => "a macvtap network has no bridge to limit: give the guest NICs a `rate`",
                _ => continue,
            };
            self.skip(c, why);
        }
        Some(LibvirtNetwork {
            name,
            forward,
            bridge: None,
            mac: None,
            mtu,
            address: None,
            address6: None,
            dhcp: None,
            dhcp6: None,
            dns: false,
            domain: None,
            bandwidth: Bandwidth::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::import;

    fn net(body: &str) -> String {
        format!("<network>\n  <name>lan</name>\n  {body}</network>\n")
    }

    #[test]
    fn macvtap_modes_import_as_direct_networks() {
        for mode in ["bridge", "vepa", "private", "passthrough"] {
            let out = import(
                &net(&format!(
                    "<forward mode='{mode}'>\n    <interface dev='eth0'/>\n  </forward>\n"
                )),
                "t.xml",
            )
            .unwrap_or_else(|e| panic!("{mode}: {e:?}"));
            assert!(out.toml.contains("kind = \"direct\""), "{}", out.toml);
            assert!(out.toml.contains("uplink = \"eth0\""), "{}", out.toml);
            assert!(
                out.toml.contains(&format!("mode = \"{mode}\"")),
                "{}",
                out.toml
            );
            assert!(!out.toml.contains("bridge ="), "{}", out.toml);
            let cfg = hvnet_core::config::Config::parse(&out.toml, "o.toml").unwrap();
            assert_eq!(cfg.direct[0].mode.as_str(), mode);
        }
    }

    #[test]
    fn a_pool_is_uplinks_and_dev_is_its_first() {
        let out = import(
            &net("<forward mode='passthrough' dev='eth0'>\n    <interface dev='eth1'/>\n    <interface dev='eth2'/>\n  </forward>\n"),
            "t.xml",
        )
        .unwrap();
        assert!(
            out.toml
                .contains("uplinks = [\"eth0\", \"eth1\", \"eth2\"]"),
            "{}",
            out.toml
        );
    }

    #[test]
    fn what_a_macvtap_network_cannot_serve_is_warned() {
        let out = import(
            &net("<forward mode='bridge'><interface dev='eth0'/></forward>\n  <ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.2' end='10.0.0.9'/></dhcp></ip>\n  <mtu size='9000'/>\n"),
            "t.xml",
        )
        .unwrap();
        let warned: Vec<String> = out.warnings.iter().map(|w| w.to_string()).collect();
        assert!(
            warned
                .iter()
                .any(|w| w.contains("network/ip") && w.contains("hvnet serves no address")),
            "{warned:?}"
        );
        assert!(out.toml.contains("mtu = 9000"), "{}", out.toml);
        assert!(!out.toml.contains("address"), "{}", out.toml);
    }

    #[test]
    fn no_interface_or_a_host_bridge_is_refused() {
        let e = import(&net("<forward mode='vepa'/>\n"), "t.xml").unwrap_err();
        assert!(format!("{e:?}").contains("interface dev"), "{e:?}");
        let e = import(
            &net("<forward mode='bridge'/>\n  <bridge name='br0'/>\n"),
            "t.xml",
        )
        .unwrap_err();
        assert!(format!("{e:?}").contains("kind = \\\"bridge\\\""), "{e:?}");
        let e = import(&net("<forward mode='hostdev'/>\n"), "t.xml").unwrap_err();
        assert!(format!("{e:?}").contains("hostdev"), "{e:?}");
    }
}
