"""ESP (RFC 4303) for branchgate: the SA database and SPD lookup (sad), the anti-replay window
(replay) and the allocation-free packet engine (engine). Not named `esp`: the ESP32 port has a
built-in module of that name."""
