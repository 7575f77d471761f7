# branchgate on the ESP32-P4-Function-EV-Board: MicroPython's own frozen modules for the port, then the firmware.
freeze("$(PORT_DIR)/modules")
include("../../micropython-common/manifest.py")
