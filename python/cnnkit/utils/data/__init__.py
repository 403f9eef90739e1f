"""cnnkit.utils.data: datasets, samplers and the DataLoader (torch.utils.data's interfaces)."""
from .dataloader import DataLoader, default_collate, default_convert
from .dataset import ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler

__all__ = [
    "DataLoader", "default_collate", "default_convert", "Dataset", "IterableDataset", "ChainDataset",
    "TensorDataset", "Subset", "ConcatDataset", "random_split", "Sampler", "SequentialSampler",
    "RandomSampler", "SubsetRandomSampler", "BatchSampler",
]
