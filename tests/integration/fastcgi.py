"""Just enough of a FastCGI client (the protocol php-fpm speaks) to send a request to a script and
read the response: BEGIN_REQUEST (responder), PARAMS, an empty STDIN, then records until END_REQUEST."""

import socket
import struct

_VERSION = 1
_BEGIN_REQUEST, _END_REQUEST, _PARAMS, _STDIN, _STDOUT = 1, 3, 4, 5, 6
_RESPONDER = 1
_HEADER = struct.Struct(">BBHHBx")  # version, type, request id, content length, padding length


def _record(kind: int, content: bytes, request_id: int = 1) -> bytes:
    return _HEADER.pack(_VERSION, kind, request_id, len(content), 0) + content


def _length(value: int) -> bytes:
    return bytes([value]) if value < 128 else struct.pack(">I", value | 0x80000000)


def _params(params: dict[str, str]) -> bytes:
    body = b""
    for name, value in params.items():
        encoded_name, encoded_value = name.encode(), value.encode()
        body += _length(len(encoded_name)) + _length(len(encoded_value)) + encoded_name + encoded_value
    return body


def _receive(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError("php-fpm closed the connection")
        data += chunk
    return data


def request(socket_path: str, script: str, timeout: float = 10) -> bytes:
    """The script's output (headers and body) for a GET request."""
    params = {
        "SCRIPT_FILENAME": script,
        "SCRIPT_NAME": "/" + script.rsplit("/", 1)[-1],
        "REQUEST_METHOD": "GET",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "GATEWAY_INTERFACE": "CGI/1.1",
    }
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect(socket_path)
        begin = struct.pack(">HB5x", _RESPONDER, 0)
        connection.sendall(
            _record(_BEGIN_REQUEST, begin)
            + _record(_PARAMS, _params(params))
            + _record(_PARAMS, b"")
            + _record(_STDIN, b"")
        )
        output = b""
        while True:
            _, kind, _, length, padding = _HEADER.unpack(_receive(connection, _HEADER.size))
            content = _receive(connection, length + padding)[:length]
            if kind == _STDOUT:
                output += content
            elif kind == _END_REQUEST:
                return output
