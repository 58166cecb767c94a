#!/bin/bash
# usr_guest_config.sh — guest network settings of the KVM hypervisor (seed 000).
# Read by `hvnet import usr-guest-config` as data; it is never executed.

# 7.3 Automatic external network connection (dynamically bridged: vmbridge)
export external_nw=1
# 0: manual (netif_m, defaultgw_m, dns_m, brip_m, brnm_m), 1: automatic (DHCP), 2: no host IP
export netif_mode=1
export netif_m=eth0
export defaultgw_m=192.168.178.1
export dns_m="192.168.178.1"
export brip_m=192.168.178.50
export brnm_m=255.255.255.0

# 7.4 Bridged external network connection (static bridges br-DEVICE)
export phys_nw=1
physnw_dev[0]=enp1s0
physnw_ip[0]=no
physnw_repmac[0]=1
physnw_dev[1]='enp2s0'
physnw_ip[1]=no
physnw_repmac[1]=0

# 7.5 Bridged virtual network connection (static bridge br-rtosvnet)
export rtosvnet_nw=1
export rtosvnet_br_ip=192.168.157.1

# 7.6 Bridged virtual network connection (dynamic bridge vmvnetbridge)
export vnet_nw=1

# 7.7 KVM guest internal network (static bridge br-guest)
export guest_nw=1
export guest_br_ip=no      # or e.g. 192.168.100.1/24 to put the host on it

# settings of other parts of the hypervisor are ignored
export smb_enable=1
