# branchgate on the Olimex ESP32-POE: MicroPython's own frozen modules for the port, then the firmware.
freeze("$(PORT_DIR)/modules")
include("../../micropython-common/manifest.py")
