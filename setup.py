"""ppcls_lite: PaddleClas-compatible image classification backbones and trainer for Paddle 3."""
from setuptools import find_packages, setup

setup(
    name="ppcls_lite",
    version="0.1.0",
    description="PaddleClas-compatible image classification backbones, trainer and tools for Paddle 3",
    packages=find_packages(include=["ppcls_lite", "ppcls_lite.*"]),
    python_requires=">=3.9",
    install_requires=["numpy>=1.24", "pyyaml>=6.0", "Pillow>=9.0", "opencv-python-headless>=4.6", "simplejpeg>=1.7",
                      "visualdl>=2.5"],
    extras_require={"test": ["pytest>=7.0"], "onnx": ["paddle2onnx==2.1.0", "onnxruntime>=1.20",
                                                                "ml_dtypes>=0.5"]},
    entry_points={"console_scripts": [
        "ppcls-train=ppcls_lite.cli.train:main",
        "ppcls-eval=ppcls_lite.cli.eval:main",
        "ppcls-infer=ppcls_lite.cli.infer:main",
        "ppcls-export=ppcls_lite.cli.export:main",
        "ppcls-convert=ppcls_lite.cli.convert_weights:main",
        "ppcls-predict=ppcls_lite.cli.predict:main",
        "ppcls-check-data=ppcls_lite.cli.check_data:main",
    ]},
)
