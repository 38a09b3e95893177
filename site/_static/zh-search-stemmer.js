/* Sphinx 9's Chinese search data ends with `window.Stemmer = ChineseStemmer;` but defines only the
   English stemmer it indexes Latin words with, so search.html stops with "ChineseStemmer is not
   defined". This names that stemmer: `new ChineseStemmer()` returns an EnglishStemmer, the one the
   index was built with. Loaded on the Chinese edition only, before language_data.js. */
window.ChineseStemmer = function () { return new EnglishStemmer(); };
