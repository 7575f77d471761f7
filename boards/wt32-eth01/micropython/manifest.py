# branchgate on the WT32-ETH01: MicroPython's own frozen modules for the port, then the firmware.
freeze("$(PORT_DIR)/modules")
include("../../micropython-common/manifest.py")
