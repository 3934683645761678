"""labctl plugin for OSENSA FTX fiber-optic temperature transmitters (Modbus RTU).

Installs the driver ``osensa_ftx`` (entry point group ``labctl.drivers``) and its
emulator (group ``labctl.emulators``), so a bench file names it like labctl's own::

    thermo:
      kind: thermometer
      driver: osensa_ftx
      address: serial:///dev/ttyUSB0?baudrate=9600
      transmitter_channels: 3
      slave_id: 40
      channels: {1: tumor, 2: rectal, 3: reference}
"""

from labctl_osensa.driver import ChannelData, OsensaFTX, OsensaOptions

__all__ = ["OsensaFTX", "OsensaOptions", "ChannelData"]
