//! Reading hvnet's table from `nft -j list table inet hvnet` (libnftables' JSON, parsed with
//! serde_json) into the [`NftTable`] model, each rule, element and chain hook written in the
//! canonical text `nft list` prints — the form [`super::render`] writes — so that the live
//! table compares with the intent's rendering object by object.
//!
//! The printer knows the expressions hvnet's rules are made of (interface, address, port,
//! conntrack, fib and concatenation matches; accept, return, reject, masquerade, dnat with
//! a map, the MSS mangle). A rule with anything else (a rule added by hand) is printed with
//! that part as its JSON, so it never equals a wanted rule and `check` names it.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{NftChain, NftError, NftSet, NftTable, TABLE};

/// Parses `nft -j list table inet hvnet`.
///
/// ```
/// let j = r#"{"nftables":[{"metainfo":{"json_schema_version":1}},
///   {"table":{"family":"inet","name":"hvnet","handle":3}},
///   {"set":{"family":"inet","name":"fwd4","table":"hvnet","type":["ipv4_addr","inet_proto","inet_service"],"handle":4,
///     "elem":[{"concat":["10.0.0.5","tcp",80]}]}},
///   {"chain":{"family":"inet","table":"hvnet","name":"input","handle":1,"type":"filter","hook":"input","prio":0,"policy":"accept"}},
///   {"rule":{"family":"inet","table":"hvnet","chain":"input","handle":5,"comment":"hvnet:lan","expr":[
///     {"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"br0"}},
///     {"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":67}},
///     {"accept":null}]}}]}"#;
/// let t = hvnet_linux::firewall::nftables::json::parse(j).unwrap();
/// assert_eq!(t.sets[0].header, ["type ipv4_addr . inet_proto . inet_service"]);
/// assert!(t.sets[0].elements.contains("10.0.0.5 . tcp . 80"));
/// assert_eq!(t.chains[0].header.as_deref(), Some("type filter hook input priority filter; policy accept;"));
/// assert_eq!(t.chains[0].rules, ["iifname \"br0\" udp dport 67 accept comment \"hvnet:lan\""]);
/// ```
///
/// # Errors
///
/// [`NftError::Listing`] when the text is not nft's JSON.
pub fn parse(json: &str) -> Result<NftTable, NftError> {
    let v: Value = serde_json::from_str(json).map_err(|e| NftError::Listing(e.to_string()))?;
    let items = v["nftables"]
        .as_array()
        .ok_or_else(|| NftError::Listing("no \"nftables\" array".into()))?;
    let mut t = NftTable::default();
    let ours = |o: &Value| o["family"] == "inet" && (o["table"] == TABLE || o["name"] == TABLE);
    for item in items {
        if let Some(s) = item.get("set").or_else(|| item.get("map")) {
            if ours(s) {
                t.sets.push(set(s, item.get("map").is_some()));
            }
        } else if let Some(c) = item.get("chain") {
            if ours(c) {
                t.chains.push(NftChain {
                    name: text(&c["name"]),
                    header: chain_header(c),
                    rules: Vec::new(),
                });
            }
        } else if let Some(r) = item.get("rule") {
            if !ours(r) {
                continue;
            }
            let chain = text(&r["chain"]);
            let line = rule(r);
            match t.chains.iter_mut().find(|c| c.name == chain) {
                Some(c) => c.rules.push(line),
                None => {
                    return Err(NftError::Listing(format!(
                        "rule of undeclared chain {chain}: {line}"
                    )))
                }
            }
        }
    }
    Ok(t)
}

/// A JSON string as is, anything else as its JSON text.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A set's or map's declaration lines and elements.
fn set(s: &Value, is_map: bool) -> NftSet {
    let types = match &s["type"] {
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(" . "),
        other => text(other),
    };
    let mut header = vec![if is_map {
        let data = match &s["map"] {
            Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(" . "),
            other => text(other),
        };
        format!("type {types} : {data}")
    } else {
        format!("type {types}")
    }];
    if let Some(flags) = s["flags"].as_array() {
        let f: Vec<String> = flags.iter().map(text).collect();
        header.push(format!("flags {}", f.join(",")));
    }
    let elements: BTreeSet<String> = s["elem"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| match e {
            Value::Array(kv) if kv.len() == 2 => {
                format!("{} : {}", element(&kv[0]), element(&kv[1]))
            }
            other => element(other),
        })
        .collect();
    NftSet {
        keyword: if is_map { "map" } else { "set" },
        name: text(&s["name"]),
        header,
        elements,
    }
}

/// One element value: a concatenation, prefix, range or plain value.
fn element(v: &Value) -> String {
    if let Some(inner) = v.get("elem") {
        return element(&inner["val"]);
    }
    if let Some(parts) = v.get("concat").and_then(Value::as_array) {
        return parts.iter().map(element).collect::<Vec<_>>().join(" . ");
    }
    value(v)
}

/// A value on the right of a match or in an element.
fn value(v: &Value) -> String {
    if let Some(p) = v.get("prefix") {
        return format!("{}/{}", text(&p["addr"]), text(&p["len"]));
    }
    if let Some(r) = v.get("range").and_then(Value::as_array) {
        return r.iter().map(value).collect::<Vec<_>>().join("-");
    }
    if let Some(s) = v.get("set").and_then(Value::as_array) {
        return format!(
            "{{ {} }}",
            s.iter().map(value).collect::<Vec<_>>().join(", ")
        );
    }
    match v {
        Value::Array(a) => a.iter().map(value).collect::<Vec<_>>().join(","),
        other => text(other),
    }
}

/// The base chain line as `nft list` prints it (`type filter hook input priority filter;
/// policy accept;`), `None` for a regular chain.
fn chain_header(c: &Value) -> Option<String> {
    let hook = c["hook"].as_str()?;
    let prio = match (&c["prio"], hook) {
        (Value::String(s), _) => s.clone(),
        (p, _) if p == -300 => "raw".into(),
        (p, _) if p == -150 => "mangle".into(),
        (p, "prerouting") if p == -100 => "dstnat".into(),
        (p, _) if p == 0 => "filter".into(),
        (p, _) if p == 50 => "security".into(),
        (p, "postrouting") if p == 100 => "srcnat".into(),
        (p, _) => text(p),
    };
    Some(format!(
        "type {} hook {hook} priority {prio}; policy {};",
        text(&c["type"]),
        c["policy"].as_str().unwrap_or("accept")
    ))
}

/// A rule's statements and comment as one line.
fn rule(r: &Value) -> String {
    let mut words: Vec<String> = r["expr"]
        .as_array()
        .into_iter()
        .flatten()
        .map(statement)
        .collect();
    if let Some(c) = r["comment"].as_str() {
        words.push(format!("comment \"{c}\""));
    }
    words.join(" ")
}

/// The left-hand side of a match (or a mangle's key, a map's key).
fn expression(v: &Value) -> String {
    if let Some(m) = v.get("meta") {
        let key = text(&m["key"]);
        return match key.as_str() {
            "iifname" | "oifname" | "iif" | "oif" | "mark" => key,
            _ => format!("meta {key}"),
        };
    }
    if let Some(p) = v.get("payload") {
        return format!("{} {}", text(&p["protocol"]), text(&p["field"]));
    }
    if let Some(c) = v.get("ct") {
        return format!("ct {}", text(&c["key"]));
    }
    if let Some(f) = v.get("fib") {
        let flags: Vec<String> = f["flags"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        return format!("fib {} {}", flags.join(" . "), text(&f["result"]));
    }
    if let Some(parts) = v.get("concat").and_then(Value::as_array) {
        return parts.iter().map(expression).collect::<Vec<_>>().join(" . ");
    }
    if let Some(rt) = v.get("rt") {
        return format!("rt {}", text(&rt["key"]));
    }
    if let Some(o) = v.get("tcp option") {
        return format!("tcp option {} {}", text(&o["name"]), text(&o["field"]));
    }
    v.to_string()
}

/// One statement of a rule.
fn statement(s: &Value) -> String {
    let Some((kind, body)) = s.as_object().and_then(|o| o.iter().next()) else {
        return s.to_string();
    };
    match kind.as_str() {
        "match" => {
            let left = expression(&body["left"]);
            let quoted = matches!(
                body["left"]["meta"]["key"].as_str(),
                Some("iifname" | "oifname")
            );
            let right = match &body["right"] {
                Value::String(name) if quoted => format!("\"{name}\""),
                other => value(other),
            };
            match body["op"].as_str() {
                Some("==" | "in") | None => format!("{left} {right}"),
                Some(op) => format!("{left} {op} {right}"),
            }
        }
        "accept" | "drop" | "return" | "continue" => kind.clone(),
        "jump" | "goto" => format!("{kind} {}", text(&body["target"])),
        "reject" => match (body["type"].as_str(), body["expr"].as_str()) {
            (None, None) | (Some("icmpx"), Some("port-unreachable")) => "reject".into(),
            (Some("tcp reset"), _) => "reject with tcp reset".into(),
            (Some(t), Some(e)) => format!("reject with {t} {e}"),
            _ => format!("reject {body}"),
        },
        "masquerade" => match body.get("port") {
            None => "masquerade".into(),
            Some(p) => format!("masquerade to :{}", value(p)),
        },
        "dnat" | "snat" => {
            let family = body["family"]
                .as_str()
                .map(|f| format!("{f} "))
                .unwrap_or_default();
            let to = match body["addr"].get("map") {
                Some(m) => format!("{} map {}", expression(&m["key"]), text(&m["data"])),
                None => match body.get("port") {
                    Some(p) => format!("{}:{}", value(&body["addr"]), value(p)),
                    None => value(&body["addr"]),
                },
            };
            format!("{kind} {family}to {to}")
        }
        "mangle" => format!(
            "{} set {}",
            expression(&body["key"]),
            expression(&body["value"])
        ),
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Rules as `nft -j list table inet hvnet` (nftables 1.0.6) printed them for the
    /// rendering of a dual-stack intent.
    const LIVE: &str = r#"{"nftables":[{"metainfo":{"version":"1.0.6","json_schema_version":1}},
{"table":{"family":"inet","name":"hvnet","handle":3}},
{"map":{"family":"inet","name":"dnat6","table":"hvnet","type":["ipv6_addr","inet_proto","inet_service"],"handle":12,"map":"ipv6_addr . inet_service","elem":[[{"concat":["2001:db8::1","tcp",8080]},{"concat":["fd00::5",80]}]]}},
{"set":{"family":"inet","name":"hairpin6","table":"hvnet","type":["ipv6_addr","ipv6_addr","inet_proto","inet_service"],"handle":15,"flags":["interval"],"elem":[{"concat":[{"prefix":{"addr":"fd00::","len":64}},"fd00::5","tcp",80]}]}},
{"chain":{"family":"inet","table":"hvnet","name":"forward","handle":4,"type":"filter","hook":"forward","prio":0,"policy":"accept"}},
{"chain":{"family":"inet","table":"hvnet","name":"output_nat","handle":6,"type":"nat","hook":"output","prio":-100,"policy":"accept"}},
{"chain":{"family":"inet","table":"hvnet","name":"postrouting","handle":7,"type":"nat","hook":"postrouting","prio":100,"policy":"accept"}},
{"rule":{"family":"inet","table":"hvnet","chain":"forward","handle":20,"comment":"hvnet:lan","expr":[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"br0"}},{"match":{"op":"in","left":{"payload":{"protocol":"tcp","field":"flags"}},"right":"syn"}},{"mangle":{"key":{"tcp option":{"name":"maxseg","field":"size"}},"value":{"rt":{"key":"mtu"}}}}]}},
{"rule":{"family":"inet","table":"hvnet","chain":"forward","handle":21,"expr":[{"match":{"op":"in","left":{"ct":{"key":"status"}},"right":"dnat"}},{"match":{"op":"==","left":{"concat":[{"payload":{"protocol":"ip6","field":"daddr"}},{"meta":{"key":"l4proto"}},{"payload":{"protocol":"th","field":"dport"}}]},"right":"@fwd6"}},{"accept":null}]}},
{"rule":{"family":"inet","table":"hvnet","chain":"forward","handle":22,"comment":"hvnet:lan","expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"daddr"}},"right":{"prefix":{"addr":"10.0.0.0","len":24}}}},{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"eth0"}},{"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"br0"}},{"match":{"op":"in","left":{"ct":{"key":"state"}},"right":["established","related"]}},{"accept":null}]}},
{"rule":{"family":"inet","table":"hvnet","chain":"forward","handle":23,"comment":"hvnet:lan","expr":[{"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"br0"}},{"reject":{"type":"icmpx","expr":"port-unreachable"}}]}},
{"rule":{"family":"inet","table":"hvnet","chain":"forward","handle":24,"expr":[{"counter":{"packets":0,"bytes":0}},{"drop":null}]}},
{"rule":{"family":"inet","table":"hvnet","chain":"output_nat","handle":30,"expr":[{"match":{"op":"!=","left":{"payload":{"protocol":"ip6","field":"daddr"}},"right":"::1"}},{"match":{"op":"==","left":{"fib":{"result":"type","flags":["daddr"]}},"right":"local"}},{"dnat":{"family":"ip6","addr":{"map":{"key":{"concat":[{"payload":{"protocol":"ip6","field":"daddr"}},{"meta":{"key":"l4proto"}},{"payload":{"protocol":"th","field":"dport"}}]},"data":"@dnat6"}}}}]}},
{"rule":{"family":"inet","table":"hvnet","chain":"postrouting","handle":31,"comment":"hvnet:m","expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip6","field":"saddr"}},"right":{"prefix":{"addr":"fd01::","len":64}}}},{"match":{"op":"!=","left":{"payload":{"protocol":"ip6","field":"daddr"}},"right":{"prefix":{"addr":"fd01::","len":64}}}},{"match":{"op":"==","left":{"meta":{"key":"l4proto"}},"right":"tcp"}},{"masquerade":{"port":{"range":[2000,3000]}}}]}}
]}"#;

    #[test]
    fn json_prints_as_nft_list_does() {
        let t = parse(LIVE).unwrap();
        let dnat6 = &t.sets[0];
        assert_eq!(
            (dnat6.keyword, dnat6.header.as_slice()),
            (
                "map",
                &[
                    "type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service"
                        .to_string()
                ][..]
            )
        );
        assert!(dnat6
            .elements
            .contains("2001:db8::1 . tcp . 8080 : fd00::5 . 80"));
        assert_eq!(t.sets[1].header[1], "flags interval");
        assert!(t.sets[1]
            .elements
            .contains("fd00::/64 . fd00::5 . tcp . 80"));
        let heads: Vec<&str> = t
            .chains
            .iter()
            .filter_map(|c| c.header.as_deref())
            .collect();
        assert_eq!(
            heads,
            [
                "type filter hook forward priority filter; policy accept;",
                "type nat hook output priority -100; policy accept;",
                "type nat hook postrouting priority srcnat; policy accept;",
            ]
        );
        assert_eq!(
            t.chains[0].rules,
            [
                "iifname \"br0\" tcp flags syn tcp option maxseg size set rt mtu comment \"hvnet:lan\"",
                "ct status dnat ip6 daddr . meta l4proto . th dport @fwd6 accept",
                "ip daddr 10.0.0.0/24 iifname \"eth0\" oifname \"br0\" ct state established,related accept comment \"hvnet:lan\"",
                "oifname \"br0\" reject comment \"hvnet:lan\"",
                "{\"counter\":{\"bytes\":0,\"packets\":0}} drop",
            ]
        );
        assert_eq!(
            t.chains[1].rules,
            ["ip6 daddr != ::1 fib daddr type local dnat ip6 to ip6 daddr . meta l4proto . th dport map @dnat6"]
        );
        assert_eq!(
            t.chains[2].rules,
            ["ip6 saddr fd01::/64 ip6 daddr != fd01::/64 meta l4proto tcp masquerade to :2000-3000 comment \"hvnet:m\""]
        );
    }

    #[test]
    fn not_json_is_an_error() {
        assert!(parse("table inet hvnet {}").is_err());
        assert!(parse("{}").is_err());
    }
}
