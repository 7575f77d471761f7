# branchgate on the ESP32-Ethernet-Kit: MicroPython's own frozen modules for the port, then the firmware.
freeze("$(PORT_DIR)/modules")
include("../../micropython-common/manifest.py")
