"""Metadata codecs: one metadata kind each (EXIF, XMP, IPTC-IIM); bytes in, typed values out.

Codecs know nothing about containers (JPEG, PNG, ...) nor about the photometa schema.
"""
