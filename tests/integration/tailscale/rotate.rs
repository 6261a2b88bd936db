//! `govctl tailscale rotate`: placeholder, filled below.
