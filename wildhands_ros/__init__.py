"""wildhands_ros: the thin ROS 2 adapter over :mod:`wildhands` (node, message conversions, TF, markers).

The generated interfaces (``wildhands_ros.msg``) may be installed in another directory than this source
package (a venv built by scripts/setup.sh); extending ``__path__`` lets both halves import as one package.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
