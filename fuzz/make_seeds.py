#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/seeds/<target>/), small files made here.

Images are drawn and encoded with Pillow (fuzz/requirements.txt; `make fuzz-seeds` installs it
into fuzz/.venv): every format the intake accepts, in the variants encoders write (palette,
grey, alpha, 16-bit, progressive, CMYK, lossy and lossless, animated), with and without an EXIF
orientation, plus hand-made edge cases. The byte layouts of the inputs are those documented in
fuzz/common/*.rs.

With --shared DIR --out DIR it instead writes downscaled re-encodings of a few of the shared
test photos (keeping their camera EXIF) into a working corpus that is not committed.

Deterministic: running it again writes the same bytes (same Pillow version).
"""
import argparse
import base64
import hashlib
import hmac
import io
import json
import pathlib
import struct
import zlib

from PIL import Image

FUZZ = pathlib.Path(__file__).resolve().parent
SEEDS = FUZZ / "seeds"

# The keys of fuzz/common/token.rs.
KEY_A = "gfZN0Y7anNNDyCYoC26iF/JM6lfNF5+oF02/F/KdSTw="
KEY_B = "cAJgMY7mLr7ovvQCRpAda+Hme6B9ZYqiOL5d/D0+G703VRY6/nD//qfZO0rrEoZva7IMrfWVtQtxjybliNK5uA=="
KEY_C = "7ax4frICV8+sI7TVfy5WkvB9QDdDrySq5DeJYyWgRDl9aPA8jNWRFt1XvCBgEz+G"
YEAR_2100 = 4102444800


def picture(w=16, h=12, mode="RGB"):
    """A small deterministic picture with edges and gradients (so that encoders have work)."""
    img = Image.new("RGB", (w, h))
    img.putdata([((x * 16) % 256, (y * 21) % 256, ((x ^ y) * 37) % 256) for y in range(h) for x in range(w)])
    return img.convert(mode) if mode != "RGB" else img


def exif(orientation):
    e = Image.Exif()
    e[0x0112] = orientation
    return e.tobytes()


def encode(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(w, h):
    """A PNG whose header claims w x h pixels, with one empty IDAT: the pixel limit's case."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"")) + png_chunk(b"IEND", b"")


def bmp_top_down(w=4, h=3):
    """A 24-bit BMP stored top-down (negative height), which Pillow does not write."""
    row = bytearray()
    for x in range(w):
        row += bytes([x * 60, 255 - x * 60, 128])
    row += b"\0" * ((4 - len(row) % 4) % 4)
    pixels = bytes(row) * h
    info = struct.pack("<IiiHHIIiiII", 40, w, -h, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    size = 14 + len(info) + len(pixels)
    return b"BM" + struct.pack("<IHHI", size, 0, 0, 14 + len(info)) + info + pixels


def images():
    """(name, file bytes) of every image seed."""
    rgb = picture()
    out = []
    # PNG
    out += [
        ("png_rgb", encode(rgb, "PNG")),
        ("png_rgba", encode(picture(mode="RGBA"), "PNG")),
        ("png_gray", encode(picture(mode="L"), "PNG")),
        ("png_gray_alpha", encode(picture(mode="LA"), "PNG")),
        ("png_palette_trns", encode(picture(mode="P"), "PNG", transparency=0)),
        ("png_1bit", encode(picture(mode="1"), "PNG")),
        ("png_gray16", encode(picture(mode="L").convert("I;16"), "PNG")),
        ("png_exif6", encode(rgb, "PNG", exif=exif(6))),
        ("png_exif8", encode(picture(9, 5), "PNG", exif=exif(8))),
        ("png_huge_header", png_header_only(100_000, 100_000)),
        ("png_zero_width", png_header_only(0, 10)),
    ]
    # JPEG
    out += [
        ("jpeg_baseline", encode(rgb, "JPEG", quality=75)),
        ("jpeg_444", encode(rgb, "JPEG", quality=90, subsampling=0)),
        ("jpeg_422", encode(rgb, "JPEG", quality=60, subsampling=1)),
        ("jpeg_progressive", encode(rgb, "JPEG", quality=70, progressive=True)),
        ("jpeg_optimized", encode(rgb, "JPEG", quality=50, optimize=True)),
        ("jpeg_gray", encode(picture(mode="L"), "JPEG")),
        ("jpeg_cmyk", encode(picture(mode="CMYK"), "JPEG")),
        ("jpeg_restart", encode(picture(32, 24), "JPEG", restart_marker_blocks=1)),
        ("jpeg_exif3", encode(rgb, "JPEG", exif=exif(3))),
        ("jpeg_exif6", encode(picture(10, 6), "JPEG", exif=exif(6))),
        ("jpeg_exif5", encode(picture(10, 6), "JPEG", exif=exif(5))),
        ("jpeg_exif7", encode(picture(10, 6), "JPEG", exif=exif(7))),
    ]
    full = encode(rgb, "JPEG", quality=75)
    out.append(("jpeg_truncated", full[: len(full) - 40]))
    # WebP
    frames = [picture(), picture().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    out += [
        ("webp_lossy", encode(rgb, "WEBP", quality=60)),
        ("webp_lossless", encode(rgb, "WEBP", lossless=True)),
        ("webp_lossy_alpha", encode(picture(mode="RGBA"), "WEBP", quality=60)),
        ("webp_lossless_alpha", encode(picture(mode="RGBA"), "WEBP", lossless=True)),
        ("webp_exif6", encode(rgb, "WEBP", quality=60, exif=exif(6))),
        ("webp_lossless_exif8", encode(picture(9, 5), "WEBP", lossless=True, exif=exif(8))),
        ("webp_animated", encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100, lossless=True)),
    ]
    # BMP
    out += [
        ("bmp_rgb", encode(rgb, "BMP")),
        ("bmp_rgba", encode(picture(mode="RGBA"), "BMP")),
        ("bmp_gray", encode(picture(mode="L"), "BMP")),
        ("bmp_palette", encode(picture(mode="P"), "BMP")),
        ("bmp_1bit", encode(picture(mode="1"), "BMP")),
        ("bmp_top_down", bmp_top_down()),
    ]
    return out


def image_intake_seeds():
    """Flag byte (fuzz/common/image_intake.rs) + data."""
    seeds = {}
    for name, data in images():
        seeds[f"{name}.bin"] = b"\x00" + data  # the file, production limits
    # The same files under the small and tiny limits (downscale, pixel limit, byte limit).
    for name, data in images():
        if name in ("png_rgb", "jpeg_exif6", "webp_lossy", "bmp_rgb"):
            seeds[f"small_{name}.bin"] = b"\x04" + data
            seeds[f"tiny_{name}.bin"] = b"\x08" + data
    by_name = dict(images())
    # The request's `image` field as text.
    seeds["field_plain_png.bin"] = b"\x01" + base64.b64encode(by_name["png_rgb"])
    seeds["field_data_url_jpeg.bin"] = b"\x01" + b"data:image/jpeg;base64," + base64.b64encode(by_name["jpeg_exif6"])
    mime = base64.encodebytes(by_name["webp_lossy"]).replace(b"\n", b"\r\n")
    seeds["field_mime_webp.bin"] = b"\x01" + mime
    seeds["field_no_padding_bmp.bin"] = b"\x01" + base64.b64encode(by_name["bmp_top_down"]).rstrip(b"=")
    seeds["field_bad_data_url.bin"] = b"\x01" + b"data:image/png,AAAA"
    # The file, encoded by the target in each client variant (bits 4-6).
    for variant, name in enumerate(["png_rgb", "jpeg_baseline", "webp_lossless", "bmp_gray", "png_exif6", "jpeg_exif3", "webp_exif6", "bmp_palette"]):
        seeds[f"encoded{variant}_{name}.bin"] = bytes([0x02 | variant << 4]) + by_name[name]
    # Near the tiny limit's 600 bytes: unpadded encodings of 598..602 bytes.
    for n in (598, 600, 601, 602):
        seeds[f"encoded_tiny_{n}.bin"] = bytes([0x02 | 0x08 | 1 << 4]) + (bytes(range(256)) * 3)[:n]
    return seeds


def request_seeds():
    by_name = dict(images())
    tiny_png = base64.b64encode(encode(picture(4, 3), "PNG")).decode()
    tiny_jpeg = base64.b64encode(by_name["jpeg_exif6"]).decode()
    tiny_webp = base64.b64encode(by_name["webp_lossy"]).decode()
    bodies = {
        "camel_one.json": {"liveImages": [{"image": tiny_png, "tags": []}]},
        "pascal_two_right.json": {"LiveImages": [{"Image": tiny_png, "Tags": []}, {"Image": tiny_jpeg, "Tags": ["right"]}]},
        "camel_two_tags.json": {"liveImages": [{"image": tiny_webp}, {"image": "data:image/png;base64," + tiny_png, "tags": ["UP", " any "]}]},
        "unknown_tag.json": {"liveImages": [{"image": tiny_png}, {"image": tiny_png, "tags": ["sideways"]}]},
        "no_images.json": {"liveImages": []},
        "three_images.json": {"LiveImages": [{"Image": "AA=="}, {"Image": "AA=="}, {"Image": "AA=="}]},
        "extra_fields.json": {"liveImages": [{"image": tiny_png, "frameNumber": 1}], "settings": {"x": [1, 2.5, None, True]}},
        "bad_base64.json": {"liveImages": [{"image": "!!not base64!!"}]},
        "not_an_image.json": {"liveImages": [{"image": base64.b64encode(b"GIF89a not accepted").decode()}]},
    }
    seeds = {name: json.dumps(body, separators=(",", ":")).encode() for name, body in bodies.items()}
    mime = base64.encodebytes(by_name["png_rgb"]).decode().replace("\n", "\\r\\n")
    seeds["mime_escaped.json"] = ('{"liveImages":[{"image":"' + mime + '","tags":["d\\u006fwn"]}]}').encode()
    seeds["empty_object.json"] = b"{}"
    seeds["not_json.txt"] = b"{liveImages: nope"
    return seeds


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(header, claims, key, digest=hashlib.sha256):
    message = b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(base64.b64decode(key), message.encode(), digest).digest()
    return message + "." + b64url(signature)


def token_seeds():
    """Flag byte, leeway byte (+ 8 bytes), data (fuzz/common/token.rs)."""
    seeds = {}
    csharp = {"sub": "client-a", "iss": "client-a", "aud": "BWS", "exp": YEAR_2100, "nbf": 1700000000, "iat": 1700000000}
    java = {"sub": "client-b", "iss": "client-b", "aud": ["BWS"], "exp": YEAR_2100, "iat": 1700000000}
    webapp = {"sub": "client-a", "iss": "demoWeApp", "aud": "bws", "exp": YEAR_2100, "nbf": 1700000000, "iat": 1700000000}
    h256 = {"alg": "HS256", "typ": "JWT"}
    h512 = {"alg": "HS512", "typ": "JWT"}

    def signed(flags, leeway, header, claims, leeway_u64=None):
        lee = bytes([leeway]) if leeway_u64 is None else b"\x80" + struct.pack("<Q", leeway_u64)
        return bytes([flags]) + lee + json.dumps(header, separators=(",", ":")).encode() + b"\n" + json.dumps(claims, separators=(",", ":")).encode()

    # Signed here by the target: flags 0b_scheme_canon_key_alg_mode.
    seeds["signed_csharp_hs256_a.bin"] = signed(0x02, 1, h256, csharp)
    seeds["signed_java_hs512_b.bin"] = signed(0x02 | 1 << 2 | 1 << 4, 1, h512, java)
    seeds["signed_webapp_hs512_a_canonical.bin"] = signed(0x02 | 1 << 2 | 0x40, 1, h512, webapp)
    seeds["signed_bare_key_c.bin"] = signed(0x02 | 2 << 4, 0, h256, {"sub": "someone", "aud": ["x", "BWS"], "exp": YEAR_2100})
    seeds["signed_wrong_key.bin"] = signed(0x02 | 3 << 4, 1, h256, csharp)
    seeds["signed_b_claims_a.bin"] = signed(0x02 | 1 << 4, 1, h256, csharp)
    seeds["signed_hs384.bin"] = signed(0x02 | 2 << 2, 1, {"alg": "HS384", "typ": "JWT"}, csharp)
    seeds["signed_jwt_scheme_kid.bin"] = signed(0x02 | 0x80, 2, {"alg": "HS256", "typ": "JWT", "kid": "k1"}, csharp)
    seeds["signed_expired.bin"] = signed(0x02, 0, h256, dict(csharp, exp=1000000000))
    seeds["signed_not_yet.bin"] = signed(0x02, 0, h256, dict(csharp, nbf=YEAR_2100 - 10))
    seeds["signed_iat_future.bin"] = signed(0x02, 0, h256, dict(csharp, iat=YEAR_2100 - 10))
    seeds["signed_no_aud.bin"] = signed(0x02, 0, h256, {"sub": "client-a", "exp": YEAR_2100})
    seeds["signed_leeway_u64.bin"] = signed(0x02, 0, h256, csharp, leeway_u64=30)
    # Whole header values.
    seeds["raw_bearer_valid.bin"] = b"\x00\x01Bearer " + token(h256, csharp, KEY_A).encode()
    seeds["raw_jwt_valid_hs512.bin"] = b"\x00\x01jwt  " + token(h512, java, KEY_B, hashlib.sha512).encode() + b" "
    seeds["raw_basic.bin"] = b"\x00\x01Basic dXNlcjpwYXNz"
    seeds["raw_not_a_jwt.bin"] = b"\x00\x01Bearer not.a.jwt"
    seeds["raw_alg_none.bin"] = b"\x00\x01Bearer " + (b64url(b'{"alg":"none"}') + "." + b64url(json.dumps(csharp).encode()) + ".").encode()
    # auth.keys settings.
    seeds["keys_two_clients.bin"] = f"\x01\x01client-a:{KEY_A}, client-b:{KEY_B}".encode()
    seeds["keys_bare.bin"] = f"\x01\x01{KEY_A}".encode()
    seeds["keys_unpadded.bin"] = f"\x01\x01 client-a : {KEY_A.rstrip('=')} ,".encode()
    seeds["keys_other_key_for_a.bin"] = f"\x01\x01client-a:{KEY_B},{KEY_A}".encode()
    seeds["keys_not_base64.bin"] = b"\x01\x01c1:not base64!"
    seeds["keys_empty_id.bin"] = f"\x01\x01:{KEY_A}".encode()
    return seeds


def write(target, seeds):
    folder = SEEDS / target
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for name, data in sorted(seeds.items()):
        (folder / name).write_bytes(data)
    print(f"{folder}: {len(seeds)} seeds, {sum(map(len, seeds.values()))} bytes")


def shared(shared_dir, out_dir):
    """Downscaled re-encodings of shared photos, camera EXIF kept, for a working corpus."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = ["minivision/live_T1.jpg", "minivision/spoof_print_F1.jpg", "bioid/challenge_right_1.png", "bioid/nod/001.jpg", "groups/duo.jpg"]
    n = 0
    for rel in names:
        path = pathlib.Path(shared_dir) / rel
        if not path.exists():
            continue
        with Image.open(path) as img:
            camera_exif = img.info.get("exif", b"")
            small = img.convert("RGB")
            small.thumbnail((48, 48))
            stem = rel.replace("/", "_").rsplit(".", 1)[0]
            for fmt, kw in [("JPEG", {"quality": 80}), ("PNG", {}), ("WEBP", {"quality": 70})]:
                extra = {"exif": camera_exif} if camera_exif else {}
                data = encode(small, fmt, **kw, **extra)
                (out / f"shared_{stem}.{fmt.lower()}.bin").write_bytes(b"\x00" + data)
                n += 1
    print(f"{out}: {n} downscaled shared images")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", help="folder of the shared test images")
    ap.add_argument("--out", help="working corpus folder for --shared")
    args = ap.parse_args()
    if args.shared:
        shared(args.shared, args.out or FUZZ / "corpus" / "image_intake")
        return
    write("image_intake", image_intake_seeds())
    write("request", request_seeds())
    write("token", token_seeds())


if __name__ == "__main__":
    main()
