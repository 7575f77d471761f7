# The board the firmware runs on: its definition (/board.json, which `branchgate image build` writes
# from boards/NAME/board.json) and its platform parts (WAN interface, LAN port, status LED, safe-mode
# button, watchdog), from board_esp32.py on a chip or board_sim.py on the unix port, where stand-ins
# let main run the same code paths. Reset cause and restart need no definition: it may be what is
# broken.
import json
import os
import sys

SIM = sys.platform == "linux"  # the unix port: the sim board
DEFINITION = "board.json"
# The sim board's reset: exit with one of these and `branchgate sim run` starts the firmware again,
# passing the cause in $BRANCHGATE_RESET_CAUSE.
EXIT_RESTART = 75
EXIT_WATCHDOG = 76
RESET_CAUSE_ENV = "BRANCHGATE_RESET_CAUSE"
# Longest time the main loop may go without feeding the watchdog: one iteration can hold a DH
# computation, seconds in pure Python on an ESP32 (ENVIRONMENT.md: 100-150x the sim's time).
WDT_MS = 30000

# machine.reset_cause() values (the same numbers on every port) -> our names.
_CAUSES = {1: "power-on", 2: "hard", 3: "watchdog", 4: "deep-sleep", 5: "soft"}


def reset_cause():
    """Why this boot happened: "power-on", "watchdog", "soft" (a restart after a crash)..."""
    if SIM:
        return os.getenv(RESET_CAUSE_ENV) or "power-on"
    import machine
    c = machine.reset_cause()
    return _CAUSES.get(c, "unknown (%d)" % c)


def restart():
    """Reset the device; never returns."""
    if SIM:
        sys.exit(EXIT_RESTART)
    import machine
    machine.reset()


def open_board(path=DEFINITION):
    """The platform for the definition at `path`. The sim board runs without one (`branchgate
    provision` writes only the config); a chip cannot bring its interfaces up without (OSError)."""
    try:
        with open(path) as f:
            d = json.load(f)
    except OSError:
        if not SIM:
            raise
        d = None
    if SIM:
        import board_sim
        return board_sim.Sim(d)
    import board_esp32
    return board_esp32.Esp32(d)
