# Frozen into production builds only. A frozen boot.py runs instead of one on the filesystem, before
# main.py. With Ctrl-C disabled, nothing typed on the serial console can interrupt the firmware; the
# console stays the provisioning channel, and since main.py never returns (it resets the device after
# an unhandled exception) the REPL is never reached.
import micropython

micropython.kbd_intr(-1)
